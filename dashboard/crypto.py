"""Secrets at rest: bind passwords (and any later secret, e.g. webhook signing keys) are stored
as Fernet tokens, never in clear, under keys that are not the session-signing key.

The keys live in ENCRYPTION_KEY_FILE (default instance/encryption_keys, made owner-only on first
start): one Fernet key per line, the first encrypts, all of them decrypt (MultiFernet), so
`flask --app app secrets rotate` can add a key, re-encrypt every stored secret and then drop the
old ones. Tokens written before this file existed were encrypted under a key derived from
SECRET_KEY (HKDF, "switchboard bind passwords v1"); that key stays a decrypt-only fallback so
existing databases keep working, and the first rotation moves them to the new key.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dashboard.config import read_or_create_secret


class SecretUnreadable(Exception):
    pass


def legacy_key(secret_key: str) -> bytes:
    """The key bind passwords were encrypted with before ENCRYPTION_KEY_FILE: derived from SECRET_KEY."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"switchboard bind passwords v1"
    ).derive(secret_key.encode())
    return base64.urlsafe_b64encode(derived)


def key_file(config: Mapping[str, Any], instance_path: str) -> Path:
    return Path(config.get("ENCRYPTION_KEY_FILE") or Path(instance_path) / "encryption_keys")


def load_keys(path: Path) -> list[str]:
    """The keys in the file, newest first; a missing file is created with one new key (0600)."""
    first = read_or_create_secret(path, lambda: Fernet.generate_key().decode())
    keys = [line.strip() for line in first.splitlines() if line.strip()]
    for key in keys:
        Fernet(key)  # a malformed key stops start-up here, not at the first bind connection
    return keys


def write_keys(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically, owner-only."""
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys) + "\n")
    os.replace(temporary, path)


def keyring(config: Mapping[str, Any]) -> MultiFernet:
    keys = [Fernet(k) for k in config["ENCRYPTION_KEYS"]]
    return MultiFernet(keys + [Fernet(legacy_key(config["SECRET_KEY"]))])


def derived_key(config: Mapping[str, Any], purpose: bytes) -> bytes:
    """A key for one purpose (e.g. the keyed hash of one-time codes), derived from the current
    encryption key: it never leaves the process, and it changes when the keys are rotated."""
    first = base64.urlsafe_b64decode(config["ENCRYPTION_KEYS"][0])
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(first)


def encrypt_secret(config: Mapping[str, Any], plaintext: str) -> str:
    return keyring(config).encrypt(plaintext.encode()).decode()


def decrypt_secret(config: Mapping[str, Any], token: str) -> str:
    try:
        return keyring(config).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with the configured encryption keys"
        ) from None


def reencrypt(config: Mapping[str, Any], token: str) -> str:
    """The token re-encrypted under the first key (MultiFernet.rotate)."""
    try:
        return keyring(config).rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with the configured encryption keys"
        ) from None
