"""What the reconciler asks the runtime for, and what the runtime reports back."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime

from moorage.errors import InvalidParams

DEFAULT_MEMORY_MB = 512
DEFAULT_PIDS_LIMIT = 256
DEFAULT_BOOT_TIMEOUT = 60.0


@dataclass(frozen=True)
class DynoSize:
    """A dyno size: its memory limit (also the swap limit) and CPU share in cores."""

    memory_mb: int
    cpus: float


SIZES: dict[str, DynoSize] = {
    "eco": DynoSize(256, 0.25),
    "basic": DynoSize(512, 0.5),
    "standard-1x": DynoSize(512, 1.0),
    "standard-2x": DynoSize(1024, 2.0),
    "performance-m": DynoSize(2560, 2.0),
    "performance-l": DynoSize(14336, 4.0),
}
DYNO_SIZES: dict[str, int] = {name: size.memory_mb for name, size in SIZES.items()}


@dataclass(frozen=True)
class VolumeMount:
    """A persistent volume of the app (``volumes:create``) mounted at ``path``."""

    name: str
    path: str


class _NamedDyno:
    """``name`` (``shop.web.1``: unique on the host) and ``label`` (``web.1``: within its
    app) of a record of a dyno; the dataclasses below declare the fields."""

    app: str
    type: str
    number: int

    @property
    def name(self) -> str:
        return f"{self.app}.{self.label}"

    @property
    def label(self) -> str:
        """The dyno's name within its app: ``web.1``."""
        return str(DynoName(self.type, self.number))


@dataclass(frozen=True)
class DynoSpec(_NamedDyno):
    """A dyno to run: ``<app>.<type>.<n>`` from one release."""

    app: str
    type: str
    number: int
    release: int
    image: str
    env: dict[str, str]
    command: list[str] | None = None
    # replaces the image's ENTRYPOINT (a Kubernetes ``command``); ``command`` is then None
    entrypoint: list[str] | None = None
    port: int | None = None
    memory_mb: int = DEFAULT_MEMORY_MB
    cpus: float = 0.5
    pids_limit: int = DEFAULT_PIDS_LIMIT
    extra_hosts: dict[str, str] = field(default_factory=dict)
    generation: int = 0  # bumped by ps:restart: a new container with the same release
    check_path: str | None = None  # HTTP readiness path; None: TCP bind on ``port``
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    group: str | None = None  # apps of a group share a private network
    aliases: tuple[str, ...] = ()  # names the dyno answers to there (<app>.internal, ...)
    read_only: bool = False  # read-only root filesystem, a writable tmpfs on /tmp
    volumes: tuple[VolumeMount, ...] = ()  # at most one dyno of the type then runs
    # (port callers in the group use, port the process listens on): Kubernetes Service ports
    ports: tuple[tuple[int, int], ...] = ()

    def fingerprint(self) -> str:
        """A digest of everything that, when changed, needs a new container."""
        doc = {
            "image": self.image,
            "env": self.env,
            "command": self.command,
            **({"entrypoint": self.entrypoint} if self.entrypoint else {}),
            "port": self.port,
            "memory": self.memory_mb,
            "cpus": self.cpus,
            "generation": self.generation,
            "pids": self.pids_limit,
            "hosts": self.extra_hosts,
            "release": self.release,
            **({"group": self.group, "aliases": list(self.aliases)} if self.group else {}),
            # only when on: turning the setting on replaces the dynos, upgrading does not
            **({"read_only": True} if self.read_only else {}),
            **({"volumes": [[v.name, v.path] for v in self.volumes]} if self.volumes else {}),
            **({"ports": [list(p) for p in self.ports]} if self.ports else {}),
        }
        raw = json.dumps(doc, sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, order=True)
class DynoName:
    """A dyno's name within its app, ``web.1``: process type and number."""

    type: str
    number: int

    def __str__(self) -> str:
        return f"{self.type}.{self.number}"

    @classmethod
    def parse(cls, text: str) -> DynoName:
        """``web.1`` -> DynoName("web", 1); InvalidParams for anything else."""
        kind, dot, number = text.rpartition(".")
        if not dot or not kind or not number.isascii() or not number.isdigit():
            raise InvalidParams(f"{text[:60]!r} is no dyno name; dyno names look like web.1.")
        return cls(kind, int(number))


@dataclass(frozen=True)
class Dyno(_NamedDyno):
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
    started_at: str = ""
    oneoff: bool = False  # run.N and scheduler.N: not part of the formation
    attached: bool = False  # a one-off whose output goes to the user's terminal
    command: str = ""
    restart_count: int = 0
    node: str = ""  # the Swarm node it runs on ("" on the one-host runtime)
    # created but never started: what a server killed between create and start leaves
    never_started: bool = False

    def age(self) -> float:
        """Seconds since it was created (``created_at`` like ``2026-12-06T10:45:35Z``); 0
        when that cannot be read."""
        try:
            made = datetime.strptime(self.created_at[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return 0.0
        return (datetime.now(UTC) - made.replace(tzinfo=UTC)).total_seconds()


@dataclass(frozen=True)
class Node:
    """A host of the swarm runtime, as ``moor nodes`` shows it."""

    id: str
    hostname: str
    role: str  # "manager" | "worker"
    availability: str  # "active" | "pause" | "drain"
    state: str  # "ready" | "down" | "unknown" | "disconnected"
    address: str  # where the router reaches the dynos it runs
    engine: str = ""
    leader: bool = False
    this: bool = False  # the engine the platform talks to
    leaving: bool = False  # `moor nodes:drain` asked to empty it; its dynos leave the router


@dataclass(frozen=True)
class DynoStats:
    """One sample of a running dyno's resource use."""

    app: str
    process: str  # "web.1"
    memory_bytes: int
    memory_limit: int
    cpu_seconds: float  # CPU time used since the dyno started (a counter)


@dataclass(frozen=True)
class HostCert:
    """A custom certificate the router presents for ``host`` (PEM chain and key)."""

    host: str
    chain: str
    key: str = field(repr=False)


@dataclass(frozen=True)
class Route:
    """One app's host names and the backends that serve them (empty: no web dyno is up),
    with the custom certificates of those hosts that have one."""

    app: str
    hosts: tuple[str, ...]
    backends: tuple[str, ...]
    certs: tuple[HostCert, ...] = ()


@dataclass(frozen=True)
class OneOffSpec(_NamedDyno):
    """A one-off dyno (``run.N``, ``scheduler.N``, ``release.N``) from one release."""

    app: str
    type: str
    number: int
    release: int
    image: str
    env: dict[str, str]
    command: list[str]
    memory_mb: int = DEFAULT_MEMORY_MB
    cpus: float = 0.5
    pids_limit: int = DEFAULT_PIDS_LIMIT
    attach: bool = False  # created stopped with stdin and a TTY, started by the attacher
    tty: bool = True
    group: str | None = None  # joins the group's private network (no aliases)
    read_only: bool = False  # read-only root filesystem, a writable tmpfs on /tmp


@dataclass(frozen=True)
class DynoEvent:
    """A change the engine reports: ``die`` (with exit code / OOM), ``start``; or
    ``resync`` (no dyno: the event stream reconnected, events may have been missed)."""

    dyno: Dyno
    action: str
    time: float

    @classmethod
    def resync(cls, when: float) -> DynoEvent:
        return cls(Dyno("", "", "", 0, 0, "", "down", None, None, ""), "resync", when)


_SHELL_SYNTAX = set("$&|;<>()`*?~")
MAX_COMMAND_CHARS = 4000
MAX_QUANTITY = 100  # dynos of one process type
MAX_CHECK_PATH_CHARS = 200
_CHECK_PATH = re.compile(r"/[!-~]*")  # printable ASCII without spaces: an HTTP request target


def command_argv(command: str) -> list[str]:
    """The argv for a Procfile-style command line: run by ``/bin/sh -c`` when it uses shell
    syntax (``${VAR}``, ``&&``, pipes, globs), as Heroku runs them; split plainly otherwise.

    Never raises: a line ``shlex`` cannot split (an unmatched quote) goes to the shell too,
    which reports the error in the dyno's output. :func:`validate_command` refuses such lines
    where users enter them."""
    if _SHELL_SYNTAX & set(command):
        return ["/bin/sh", "-c", command]
    try:
        return shlex.split(command)
    except ValueError:
        return ["/bin/sh", "-c", command]


def validate_command(command: str, where: str) -> str:
    """Return ``command`` if a dyno can run it, else raise :class:`InvalidParams` saying why
    (``where`` names it: ``Procfile line 2``, ``command``)."""
    if "\x00" in command:
        raise InvalidParams(f"{where}: the command contains a NUL byte, which no process can read.")
    if len(command) > MAX_COMMAND_CHARS:
        raise InvalidParams(
            f"{where}: the command is {len(command)} characters long; the limit is "
            f"{MAX_COMMAND_CHARS}. Move it into a script in the image and run that."
        )
    try:
        shlex.split(command, comments=True)
    except ValueError as exc:
        raise InvalidParams(
            f"{where}: the command {command[:200]!r} has an unmatched quote ({exc}); close it "
            "or escape it with a backslash."
        ) from exc
    return command


def validate_check_path(path: str, where: str) -> str:
    """Return ``path`` if it is an HTTP path the readiness check can request (``/health``)."""
    if len(path) > MAX_CHECK_PATH_CHARS or not _CHECK_PATH.fullmatch(path):
        raise InvalidParams(
            f"{where}: check path {path[:MAX_CHECK_PATH_CHARS]!r} is invalid: it starts with / and "
            f"holds at most {MAX_CHECK_PATH_CHARS} printable ASCII characters without spaces "
            "(percent-encode the others, e.g. %20)."
        )
    return path
