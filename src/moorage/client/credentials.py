"""Where the CLI keeps the API URL and token: a 0600 JSON file, or MOORAGE_API_* variables."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_URL = "http://127.0.0.1:7070"


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(os.environ.get("MOORAGE_CREDENTIALS", Path(base) / "moorage" / "credentials.json"))


@dataclass(frozen=True)
class Credentials:
    api_url: str
    token: str | None


def load() -> Credentials:
    stored: dict[str, str] = {}
    path = credentials_path()
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
    return Credentials(
        api_url=os.environ.get("MOORAGE_API_URL") or stored.get("api_url") or DEFAULT_API_URL,
        token=os.environ.get("MOORAGE_API_KEY") or stored.get("token"),
    )


def save(api_url: str, token: str) -> Path:
    """Write the credentials file with mode 0600 (created so, never widened)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"api_url": api_url, "token": token}, fh)
    path.chmod(0o600)
    return path
