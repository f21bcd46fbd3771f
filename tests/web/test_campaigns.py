from __future__ import annotations

import pytest


@pytest.fixture
def ops(client, auth, make_user):
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    return client


def test_the_message_box_asks_for_the_live_counter_as_you_type(ops, make_list, sender):
    make_list(["+12025550101"])
    page = ops.get("/campaigns/new").data.decode()
    assert 'hx-get="/campaigns/segments"' in page
    assert 'hx-trigger="input changed delay:150ms, load"' in page


def test_the_counter_shows_gsm7_parts_and_room_left(ops):
    page = ops.get("/campaigns/segments", query_string={"text": "Hello €"}).data.decode()
    assert 'data-encoding="gsm7"' in page and 'data-parts="1"' in page
    assert "152 characters left in this part" in page  # € counts two septets


def test_an_emoji_switches_to_ucs2_and_names_the_character(ops):
    page = ops.get("/campaigns/segments", query_string={"text": "Hello 🎉"}).data.decode()
    assert 'data-encoding="ucs2"' in page
    assert "<code>🎉</code>" in page
    assert "62 UTF-16 units left in this part" in page  # 6 + 2 units of 70


def test_a_curly_apostrophe_is_named_with_its_gsm_lookalike(ops):
    page = ops.get("/campaigns/segments", query_string={"text": "a" * 155 + "’"}).data.decode()
    assert 'data-parts="3"' in page
    assert "<code>’</code> → <code>&#39;</code>" in page
    assert "make it cheaper" in page


def test_a_compliance_reviewer_gets_no_counter(client, auth, make_user):
    make_user("c@example.com", "compliance")
    auth.login("c@example.com")
    assert client.get("/campaigns/segments?text=x").status_code == 403
