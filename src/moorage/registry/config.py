"""Docker Distribution's configuration, rendered as a pure function."""

from __future__ import annotations

from pathlib import Path

import yaml

from moorage.registry.tokens import ISSUER, SERVICE


def render_config(*, storage: Path, addr: str, realm: str, cert: Path, http_secret: str) -> str:
    """The registry's config.yml: filesystem storage, deletes on, token auth against our API."""
    doc = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
        },
        "http": {
            "addr": addr,
            "secret": http_secret,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "auth": {
            "token": {
                "realm": realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(cert),
            }
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)
