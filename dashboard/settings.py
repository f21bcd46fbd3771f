"""The one accessor through which services read the running application's settings.

Services take what they need as arguments where their caller has it (the worker passes a bind's
validity period, a view the default region); a setting read deep inside a job comes from here, so
no service imports Flask and a test can see at a glance which settings a service depends on.
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Mapping
from typing import Any

from flask import current_app


def setting(name: str) -> Any:
    """The value of one setting (dashboard/config.py lists them all, with their defaults)."""
    return current_app.config[name]


def instance_path() -> Path:
    """The instance folder: the SQLite database, the secret key, uploads."""
    return Path(current_app.instance_path)


def app_config() -> Mapping[str, Any]:
    """All settings at once, for the few that need several together (the encryption keyring in
    dashboard/crypto.py reads the key file's setting and the legacy key from them)."""
    return current_app.config
