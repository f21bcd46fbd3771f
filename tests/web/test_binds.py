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
