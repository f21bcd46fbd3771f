"""Searches that carry personal data (a phone number, a name) are posted, then kept in the user's
session under a short random id: the URL, the browser history and the server's access log see
only the id, never the number."""

from __future__ import annotations

import secrets
from typing import Any

from flask import session

# The session is a signed cookie (about 4 kB at most): a few recent searches only.
KEPT = 5


def remember(kind: str, data: dict[str, Any]) -> str:
    """Keep a search's fields (JSON-able values); returns the id to put in the URL instead."""
    token = secrets.token_urlsafe(6)
    kept = [entry for entry in session.get("searches", []) if entry[1] != kind or entry[2] != data]
    session["searches"] = [*kept[-(KEPT - 1) :], [token, kind, data]]
    return token


def recall(kind: str, token: str | None) -> dict[str, Any] | None:
    """The fields of a search this user made recently, or None (unknown, or pushed out since)."""
    for entry_token, entry_kind, data in session.get("searches", []):
        if entry_token == token and entry_kind == kind:
            return dict(data)
    return None
