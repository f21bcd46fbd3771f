from __future__ import annotations

import pytest

from dashboard import create_app
from dashboard.extensions import db
from tests.conftest import PASSWORD, make_config


def test_it_logs_in_with_the_right_password(client, auth, make_user):
    make_user()
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_is_refused_with_a_message(client, auth, make_user):
    make_user()
    response = auth.login(password="not the password")
    assert response.status_code == 401
    assert b"Wrong email or password" in response.data
    assert client.get("/").status_code == 302  # still logged out


def test_an_unknown_email_gets_the_same_message_as_a_wrong_password(client, auth):
    response = auth.login(email="nobody@example.com")
    assert response.status_code == 401
    assert b"Wrong email or password" in response.data


def test_a_deactivated_user_cannot_log_in(client, auth, make_user):
    user = make_user()
    user.active = False
    db.session.commit()
    assert auth.login().status_code == 401


def test_logout_ends_the_session(client, auth, make_user):
    make_user()
    auth.login()
    assert auth.logout().status_code == 302
    assert client.get("/").headers["Location"].startswith("/login")


def test_login_redirects_only_to_local_paths(client, make_user):
    make_user()
    response = client.post("/login?next=https://evil.example/", data={"email": "admin@example.com",
                                                                       "password": PASSWORD})
    assert response.headers["Location"] == "/"
    response = client.post("/logout")
    response = client.post("/login?next=/campaigns/", data={"email": "admin@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/campaigns/"


def test_passwords_are_stored_hashed(app, make_user):
    user = make_user()
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_an_htmx_request_without_a_session_gets_hx_redirect_not_a_login_page(client):
    response = client.get("/stats", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")
    assert response.data == b""


@pytest.fixture
def csrf_client(database_url):
    app = create_app(make_config(database_url, WTF_CSRF_ENABLED=True))
    with app.app_context():
        yield app.test_client()
        db.session.remove()
        db.engine.dispose()


def test_a_post_without_a_csrf_token_is_refused(csrf_client, make_user):
    make_user()
    response = csrf_client.post("/login", data={"email": "admin@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert b"CSRF" in response.data
    assert csrf_client.get("/").status_code == 302  # not logged in


def test_a_post_with_the_csrf_token_from_the_form_is_accepted(csrf_client, make_user):
    make_user()
    page = csrf_client.get("/login").data.decode()
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = csrf_client.post("/login", data={"email": "admin@example.com", "password": PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 302
