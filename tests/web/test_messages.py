"""The Messages page: search by number (posted, never in the URL), dates, campaign, bind, sender
and status, a page at a time by cursor; and one message's readable timeline."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from dashboard.extensions import db
from dashboard.models import Bind, Message, MessageEvent
from dashboard.models.types import utcnow
from tests.conftest import campaign_for


@pytest.fixture
def ops(client, auth, make_user):
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    return client


def _messages(rows: list[dict]) -> list[int]:
    base = dict(
        source="Switchboard",
        source_ton=5,
        source_npi=0,
        text="hi",
        encoding="gsm7",
        segments=1,
        priority=100,
        status="delivered",
        udh_ref=0,
        attempts=1,
        event_seq=0,
        possible_duplicate=False,
    )
    return db.session.scalars(
        insert(Message).returning(Message.id, sort_by_parameter_order=True),
        [base | row for row in rows],
    ).all()


def _shown(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-message="(\d+)">', page)]


def test_a_number_is_searched_by_post_and_the_url_carries_only_a_search_id(ops):
    now = utcnow()
    ids = _messages(
        [
            {"destination": "+12025550101", "created_at": now},
            {"destination": "+12025550102", "created_at": now},
            {"destination": "+12025550101", "created_at": now},
        ]
    )
    response = ops.post("/messages/", data={"number": "(202) 555-0101"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/messages/\?search=[\w-]+", location)
    assert "555" not in location and "202" not in location
    page = ops.get(location).data.decode()
    assert _shown(page) == [ids[2], ids[0]]
    assert 'value="+12025550101"' in page  # the form shows what was searched


def test_a_number_that_is_not_one_is_refused_in_the_form(ops):
    response = ops.post("/messages/", data={"number": "12"})
    assert response.status_code == 400
    assert "12: " in response.data.decode()


def test_filters_without_personal_data_stay_in_the_url_and_combine(ops, app, make_list, sender):
    contact_list = make_list(["+12025550101"])
    campaign = campaign_for(contact_list, sender, name="Spring")
    bind = Bind(name="acme", host="h", port=1, system_id="s", password_encrypted="x")
    db.session.add(bind)
    db.session.commit()
    day = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
    ids = _messages(
        [
            {
                "destination": "+12025550101",
                "created_at": day,
                "campaign_id": campaign.id,
                "bind_id": bind.id,
            },
            {
                "destination": "+12025550102",
                "created_at": day,
                "campaign_id": campaign.id,
                "status": "undeliverable",
                "bind_id": bind.id,
                "reason": "UNDELIV err 001",
            },
            {
                "destination": "+12025550103",
                "created_at": day + timedelta(days=2),
                "campaign_id": campaign.id,
            },
            {"destination": "+12025550104", "created_at": day, "source": "Other"},
        ]
    )
    response = ops.post(
        "/messages/", data={"status": "undeliverable", "campaign": str(campaign.id)}
    )
    assert response.headers["Location"] == f"/messages/?status=undeliverable&campaign={campaign.id}"
    assert _shown(ops.get(response.headers["Location"]).data.decode()) == [ids[1]]
    assert _shown(ops.get("/messages/?since=2026-03-10&until=2026-03-10").data.decode()) == [
        ids[3],
        ids[1],
        ids[0],
    ]
    assert _shown(ops.get(f"/messages/?bind={bind.id}").data.decode()) == [ids[1], ids[0]]
    assert _shown(ops.get("/messages/?sender=Other").data.decode()) == [ids[3]]
    assert _shown(ops.get(f"/messages/?campaign={campaign.id}&since=2026-03-11").data.decode()) == [
        ids[2]
    ]
    page = ops.get(f"/messages/?campaign={campaign.id}").data.decode()
    assert (
        f'<option selected value="{campaign.id}">Spring</option>' in page
    )  # visible, not a hidden parameter
    assert ops.get("/messages/?status=nonsense").status_code == 400


def test_pages_follow_by_cursor_with_nothing_missed_or_repeated(ops):
    now = utcnow()
    ids = _messages([{"destination": "+12025550101", "created_at": now} for _ in range(120)])
    newest_first = sorted(ids, reverse=True)
    token = (
        ops.post("/messages/", data={"number": "+12025550101"})
        .headers["Location"]
        .split("search=")[1]
    )
    first = ops.get(f"/messages/?search={token}").data.decode()
    assert _shown(first) == newest_first[:50]
    older = re.search(r'href="(/messages/\?before=\d+&amp;search=[\w-]+)" rel="next"', first).group(
        1
    )
    second = ops.get(older.replace("&amp;", "&")).data.decode()
    assert _shown(second) == newest_first[50:100]
    third = ops.get(
        re.search(r'href="([^"]+)" rel="next"', second).group(1).replace("&amp;", "&")
    ).data.decode()
    assert _shown(third) == newest_first[100:] and 'rel="next"' not in third
    back = ops.get(
        re.search(r'href="([^"]+)" rel="prev"', third).group(1).replace("&amp;", "&")
    ).data.decode()
    assert _shown(back) == newest_first[50:100]


def test_an_unknown_search_id_says_so_and_starts_again(ops):
    response = ops.get("/messages/?search=forgotten", follow_redirects=True)
    assert "That search has expired: search again." in response.data.decode()


def test_the_timeline_reads_one_line_per_event_with_the_raw_fields_one_click_away(ops):
    now = utcnow()
    [message_id] = _messages(
        [
            {
                "destination": "+12025550107",
                "created_at": now,
                "status": "undeliverable",
                "reason": "UNDELIV err 001",
            }
        ]
    )
    db.session.execute(
        insert(MessageEvent),
        [
            {
                "message_id": message_id,
                "kind": "submit_sm",
                "part_no": 1,
                "at": now,
                "detail": {
                    "sequence": 3,
                    "session": "s-1",
                    "part": "1/1",
                    "possible_duplicate": False,
                },
            },
            {
                "message_id": message_id,
                "kind": "submit_sm_resp",
                "part_no": 1,
                "at": now,
                "detail": {"command_status": 0, "status_name": "ESME_ROK", "message_id": "1f"},
            },
            {
                "message_id": message_id,
                "kind": "deliver_sm",
                "part_no": 1,
                "at": now,
                "detail": {
                    "receipt_id": 9,
                    "stat": "UNDELIV",
                    "err": "001",
                    "text": "id:1f stat:UNDELIV err:001",
                },
            },
        ],
    )
    db.session.commit()
    page = ops.get(f"/messages/{message_id}").data.decode()
    lines = re.findall(r"<span data-line>([^<]+)</span>", page)
    assert lines == [
        "part 1/1, sequence 3 on session s-1",
        "SMSC id 1f",
        "UNDELIV (undeliverable), err 001: unknown subscriber",
    ]
    assert page.count("<details><summary>raw fields</summary>") == 3
    assert '"text": "id:1f stat:UNDELIV err:001"' in page  # the raw fields, as received
