"""What the reconciler asks the runtime for, and what the runtime reports back."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

DEFAULT_MEMORY_MB = 512
DEFAULT_PIDS_LIMIT = 256
DEFAULT_WEB_PORT = 5000
DYNO_SIZES: dict[str, int] = {"basic": 512, "standard-1x": 512, "standard-2x": 1024}


@dataclass(frozen=True)
class DynoSpec:
    """A dyno to run: ``<app>.<type>.<n>`` from one release."""

    app: str
    type: str
    number: int
    release: int
    image: str
    env: dict[str, str]
    command: list[str] | None = None
    port: int | None = None
    memory_mb: int = DEFAULT_MEMORY_MB
    pids_limit: int = DEFAULT_PIDS_LIMIT
    extra_hosts: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.app}.{self.type}.{self.number}"

    def fingerprint(self) -> str:
        """A digest of everything that, when changed, needs a new container."""
        doc = {
            "image": self.image,
            "env": self.env,
            "command": self.command,
            "port": self.port,
            "memory": self.memory_mb,
            "pids": self.pids_limit,
            "hosts": self.extra_hosts,
            "release": self.release,
        }
        raw = json.dumps(doc, sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Dyno:
    """A dyno as the runtime sees it."""

    id: str
    app: str
    type: str
    number: int
    release: int
    fingerprint: str
    state: str  # "starting" | "up" | "crashed" | "down"
    ip: str | None
    port: int | None
    created_at: str
    exit_code: int | None = None
    oom_killed: bool = False

    @property
    def name(self) -> str:
        return f"{self.app}.{self.type}.{self.number}"


@dataclass(frozen=True)
class Route:
    """One host name and the backends that serve it (empty: the app has no web dyno up)."""

    app: str
    hosts: tuple[str, ...]
    backends: tuple[str, ...]
