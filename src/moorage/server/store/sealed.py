"""Columns the platform must read back but nobody else may: sealed at rest.

Config vars (an app's and each release's), add-on URLs and certificate keys are encrypted
with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key derived from
``<data>/secret.key``, which is not in the state store: a copy of ``state.db`` (or a
backup of the PostgreSQL that holds it) shows none of them.

The key travels on the engine's dialect (each :class:`~moorage.server.store.db.Store` sets
its own), because a column type only sees the dialect. Values written before sealing
existed read as they are; :func:`seal_existing` rewrites them at start.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import JSON, Dialect, Text
from sqlalchemy.types import TypeDecorator

from moorage.errors import ComponentFailed

PREFIX = "sealed1:"
_ATTR = "moorage_sealer"


def sealer(secret: bytes) -> Fernet:
    """The state store's cipher, derived from the platform secret."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"moorage state store")
    return Fernet(base64.urlsafe_b64encode(key.derive(secret)))


def attach(dialect: Dialect, fernet: Fernet) -> None:
    setattr(dialect, _ATTR, fernet)


def _fernet(dialect: Dialect) -> Fernet:
    found = getattr(dialect, _ATTR, None)
    if not isinstance(found, Fernet):
        raise ComponentFailed(
            "The state store holds sealed values but was opened without the platform's "
            "secret.key: open it with Store(url, secret)."
        )
    return found


def seal(dialect: Dialect, text: str) -> str:
    return PREFIX + _fernet(dialect).encrypt(text.encode()).decode()


def unseal(dialect: Dialect, stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before sealing: rewritten at the next start
    try:
        return _fernet(dialect).decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ComponentFailed(
            "A sealed value of the state store does not open with this secret.key: was "
            "the key replaced? Put the original <data>/secret.key back."
        ) from exc


class SealedText(TypeDecorator[str]):
    """A text column stored encrypted (an add-on URL, a private key)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal(dialect, value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else unseal(dialect, value)


class SealedJSON(TypeDecorator[Any]):
    """A JSON column whose value is stored as one encrypted JSON string (config vars)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else seal(dialect, json.dumps(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and value.startswith(PREFIX):
            return json.loads(unseal(dialect, value))
        return value  # written before sealing
