from __future__ import annotations

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import Bind, Message, User
from tests.conftest import wait_for


def test_create_user_reads_the_password_from_stdin(runner):
    result = runner.invoke(args=["create-user", "ops@example.com", "--role", "ops", "--password-stdin"],
                           input="long enough password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User))
    assert user.role == "ops" and user.check_password("long enough password")


def test_create_user_refuses_a_short_password_in_one_line(runner):
    result = runner.invoke(args=["create-user", "a@example.com", "--role", "admin", "--password-stdin"],
                           input="short\n")
    assert result.exit_code != 0
    assert result.output.strip() == "Error: password must be at least 10 characters"


def test_bind_add_then_list(runner):
    result = runner.invoke(args=["bind", "add", "acme", "--host", "127.0.0.1", "--port", "2775", "--system-id",
                                 "acme", "--password-stdin", "--mode", "trx", "--tps", "20", "--window", "5"],
                           input="pw\n")
    assert result.exit_code == 0, result.output
    bind = db.session.scalar(select(Bind))
    assert (bind.tps, bind.window, bind.mode) == (20, 5, "trx")
    assert "pw" not in bind.password_encrypted
    listing = runner.invoke(args=["bind", "list"])
    assert "acme\t127.0.0.1:2775\tacme\ttrx\tenabled" in listing.output


def test_bind_add_refuses_a_duplicate_name(runner):
    args = ["bind", "add", "acme", "--host", "h", "--port", "1", "--system-id", "a", "--password-stdin"]
    runner.invoke(args=args, input="pw\n")
    result = runner.invoke(args=args, input="pw\n")
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_send_refuses_an_invalid_number_and_queues_nothing(runner, sender):
    result = runner.invoke(args=["send", "--to", "+12025550101", "--to", "12345", "--text", "hi"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: 12345: too short"
    assert db.session.scalar(select(Message)) is None


def test_send_reads_numbers_from_a_file(runner, sender, tmp_path):
    path = tmp_path / "numbers.txt"
    path.write_text("+12025550101\n# a comment\n\n(202) 555-0102\n")
    result = runner.invoke(args=["send", "--to-file", str(path), "--text", "hello"])
    assert result.exit_code == 0, result.output
    assert len(result.output.split()) == 2
    assert {m.destination for m in db.session.scalars(select(Message))} == {"+12025550101", "+12025550102"}


def test_status_prints_counts_and_bind_states(runner, sender):
    runner.invoke(args=["send", "--to", "+12025550101", "--text", "hi"])
    lines = runner.invoke(args=["status"]).output.splitlines()
    assert "queued 1" in lines
    assert "delivered 0" in lines


def test_message_show_prints_parts_and_timeline_after_delivery(runner, simulator, make_bind, sender, worker):
    make_bind(simulator)
    message_id = runner.invoke(args=["send", "--to", "+12025550101", "--text", "hi there"]).output.split()[0]
    worker()
    wait_for(lambda: (db.session.expire_all(), db.session.get(Message, int(message_id)).status)[1] == "delivered")
    output = runner.invoke(args=["message", "show", message_id]).output
    assert f"message {message_id}: delivered" in output
    assert "part 1/1: delivered" in output
    for event in ("queued", "submit_sm", "submit_sm_resp", "deliver_sm"):
        assert f" {event} " in output


def test_message_show_of_an_unknown_id_fails(runner):
    result = runner.invoke(args=["message", "show", "999"])
    assert result.exit_code == 1
    assert "no message 999" in result.output
