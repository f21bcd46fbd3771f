from __future__ import annotations

from sqlalchemy import select, text, update

from dashboard.crypto import decrypt_secret
from dashboard.extensions import db
from dashboard.models import Bind, BindStatus, Message
from tests.conftest import numbers, wait_for

FORM = {"name": "Carrier A", "host": "127.0.0.1", "port": 2775, "system_id": "acme", "password": "s3cr3t!",
        "mode": "trx", "tps": 30, "window": 10, "enquire_link_interval": 30, "response_timeout": 10,
        "default_data_coding": 0, "concat_mode": "udh", "message_id_format": "auto", "max_attempts": 5,
        "enabled": "y"}


def _admin(client, auth, make_user):
    make_user()
    auth.login()


def test_an_admin_creates_a_bind_and_the_password_is_encrypted_at_rest(app, client, auth, make_user):
    _admin(client, auth, make_user)
    response = client.post("/binds/new", data=FORM)
    assert response.status_code == 302
    bind = db.session.scalar(select(Bind).where(Bind.name == "Carrier A"))
    stored = db.session.execute(text("SELECT password_encrypted FROM bind WHERE id = :id"), {"id": bind.id}).scalar()
    assert "s3cr3t!" not in stored
    assert decrypt_secret(app.config, stored) == "s3cr3t!"


def test_the_bind_password_is_never_rendered_back(client, auth, make_user):
    _admin(client, auth, make_user)
    client.post("/binds/new", data=FORM)
    bind_id = db.session.scalar(select(Bind.id))
    for url in ("/binds/", f"/binds/{bind_id}", f"/binds/{bind_id}/edit", f"/binds/{bind_id}/state"):
        assert b"s3cr3t!" not in client.get(url).data, url


def test_saving_a_bind_with_an_empty_password_keeps_the_stored_one(app, client, auth, make_user):
    _admin(client, auth, make_user)
    client.post("/binds/new", data=FORM)
    bind = db.session.scalar(select(Bind))
    response = client.post(f"/binds/{bind.id}/edit", data=FORM | {"password": "", "tps": 45})
    assert response.status_code == 302
    db.session.refresh(bind)
    assert bind.tps == 45
    assert decrypt_secret(app.config, bind.password_encrypted) == "s3cr3t!"


def test_a_new_bind_without_a_password_is_refused_with_a_message(client, auth, make_user):
    _admin(client, auth, make_user)
    response = client.post("/binds/new", data=FORM | {"password": ""})
    assert response.status_code == 400
    assert b"A password is required" in response.data
    assert db.session.scalar(select(Bind)) is None


def test_a_bind_with_an_invalid_port_is_refused(client, auth, make_user):
    _admin(client, auth, make_user)
    response = client.post("/binds/new", data=FORM | {"port": 70000})
    assert response.status_code == 400
    assert db.session.scalar(select(Bind)) is None


def test_a_wrong_bind_password_shows_the_bind_error_without_stopping_the_sender(
        app, client, auth, make_user, make_simulator, make_bind, worker, runner, sender):
    _admin(client, auth, make_user)
    simulator = make_simulator()
    bad = make_bind(simulator, name="wrong-password", password="nope")
    good = make_bind(simulator, name="good")
    worker()

    def bind_state(bind_id):
        db.session.expire_all()
        status = db.session.get(BindStatus, bind_id)
        return status.state if status else None

    wait_for(lambda: bind_state(bad.id) == "backing_off", message="bad bind backing off")
    page = client.get(f"/binds/{bad.id}/state").data.decode()
    assert "bind refused: ESME_RBINDFAIL" in page
    assert "ESME_RBINDFAIL" in client.get("/binds/").data.decode()

    # The other bind carries traffic all the while: the scheduler did not crash.
    wait_for(lambda: bind_state(good.id) == "bound", message="good bind bound")
    db.session.execute(update(Bind).where(Bind.id == bad.id).values(enabled=False))
    db.session.commit()
    result = runner.invoke(args=["send", "--to", numbers(1)[0], "--text", "still sending", "--from", sender.value])
    message_id = int(result.output.split()[0])
    wait_for(lambda: (db.session.expire_all(), db.session.get(Message, message_id).status)[1] == "delivered",
             message="message delivered through the good bind")


def test_ops_see_the_bind_states_read_only(client, auth, make_user, make_bind, simulator):
    bind = make_bind(simulator, name="acme")
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")
    listing = client.get("/binds/").data.decode()
    assert 'data-bind="acme"' in listing and "Read-only: admins change binds." in listing
    assert "Add a bind" not in listing
    page = client.get(f"/binds/{bind.id}").data.decode()
    assert 'id="bind-state"' in page and "/edit" not in page and "delete-bind" not in page
    assert client.post(f"/binds/{bind.id}/delete").status_code == 403


def test_a_bind_with_messages_in_flight_cannot_be_deleted(
    client, auth, make_user, make_bind, simulator, sender, runner
):
    _admin(client, auth, make_user)
    bind = make_bind(simulator, name="acme")
    runner.invoke(args=["send", "--to", numbers(1)[0], "--text", "queued", "--from", "Switchboard"])
    page = client.get(f"/binds/{bind.id}").data.decode()
    assert "1 message in flight on this bind" in page
    response = client.post(f"/binds/{bind.id}/delete", follow_redirects=True)
    assert "1 message is in flight on acme: disable it instead" in response.data.decode()
    assert db.session.get(Bind, bind.id).deleted_at is None


def test_a_deleted_bind_leaves_the_console_but_its_messages_keep_its_name(
    client, auth, make_user, make_bind, simulator, sender, runner
):
    from dashboard.models.types import utcnow
    from dashboard.services import routing

    _admin(client, auth, make_user)
    bind = make_bind(simulator, name="acme")
    routing.create_route(destination="1", bind_id=bind.id, price="0.0075", currency="USD")
    result = runner.invoke(
        args=["send", "--to", numbers(1)[0], "--text", "sent", "--from", "Switchboard"]
    )
    message = db.session.get(Message, int(result.output.split()[0]))
    message.status, message.done_at = "delivered", utcnow()
    db.session.commit()

    response = client.post(f"/binds/{bind.id}/delete", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/binds/"
    assert 'data-bind="acme"' not in client.get("/binds/").data.decode()
    assert client.get(f"/binds/{bind.id}").status_code == 404
    db.session.expire_all()
    assert not db.session.get(Bind, bind.id).enabled
    assert routing.route_table() == []
    assert f"acme (deleted {bind.id})" in client.get(f"/messages/{message.id}").data.decode()
    # The name is free again for a new bind.
    assert client.post("/binds/new", data=FORM | {"name": "acme"}).status_code == 302


def test_the_bind_states_say_no_sender_running_when_its_heartbeat_is_stale(
    client, auth, make_user, make_bind, simulator
):
    from datetime import timedelta

    from dashboard.models.types import utcnow
    from dashboard.services import workers

    _admin(client, auth, make_user)
    bind = make_bind(simulator, name="acme")  # "connecting" until a sender drives it
    workers.beat("gone:1", "gone", 1, utcnow() - timedelta(minutes=5))
    for url in ("/binds/", "/binds/states", f"/binds/{bind.id}/state", "/"):
        page = client.get(url).data.decode()
        assert 'data-bind-state="no_sender_running"' in page, url
        assert 'data-bind-state="connecting"' not in page, url
    workers.beat("here:2", "here", 2, utcnow())
    assert 'data-bind-state="connecting"' in client.get("/binds/states").data.decode()
