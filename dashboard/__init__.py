"""Switchboard: an operations console for business SMS."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from dashboard import config as config_module
from dashboard import crypto
from dashboard.extensions import csrf, db, htmx, limiter, login_manager, migrate

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. It only wires things: no threads, sockets or binds start here."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(config_module.DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config_module.from_environment(os.environ, config_module.DEFAULTS))
    if config:
        app.config.update(config)
    config_module.check_choices(app.config)

    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = config_module.instance_secret_key(app.instance_path, app.config["SECRET_KEY_FILE"])
    app.config.setdefault("ENCRYPTION_KEYS", crypto.load_keys(crypto.key_file(app.config, app.instance_path)))
    if not app.config["DATABASE_URL"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True, mode=0o700)
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'switchboard.db'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config["DATABASE_URL"]))
    _secure_session_settings(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)

    from dashboard import models  # noqa: F401  (registers the tables with the metadata)
    from dashboard.db_setup import install_sqlite_pragmas, install_unprepared_statements
    install_sqlite_pragmas(app)
    install_unprepared_statements(app)

    from dashboard.web import register_blueprints
    register_blueprints(app)
    from dashboard.api import register_api
    register_api(app)

    from dashboard.cli import register_cli
    register_cli(app)
    return app


def _secure_session_settings(app: Flask) -> None:
    """Cookies, session lifetime, upload size and the trusted proxies, from the settings."""
    app.config["SESSION_COOKIE_SECURE"] = app.config["SECURE_COOKIES"]
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    app.config["MAX_CONTENT_LENGTH"] = app.config["IMPORT_MAX_MB"] * 1024 * 1024
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    if app.config["TRUSTED_PROXIES"]:
        # Behind N proxies, the client's address is the Nth from the right of X-Forwarded-For.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # The sender thread and the web threads share the file; wait for locks instead of failing.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}, "json_serializer": _json_dumps,
                "json_deserializer": orjson.loads}
    return {"pool_pre_ping": True, "json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def _json_dumps(value) -> str:
    # The sender writes several JSON columns per message (timeline, receipts), and the webhook
    # job reads them back by the thousand: orjson, not json, both ways.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
