"""What the Kubernetes converter reads and what it produces. Pure data, no I/O.

Input: :class:`K8sObject` (one document of a manifest, with where it came from).
Output: a :class:`Conversion`: one :class:`AppPlan` per Moorage app, plus every
:class:`Finding` (what has no equivalent, what was rewritten, what the user must do).
Every input object ends up *covered*: named by some plan's ``sources`` or by a finding, so
nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Source:
    """Where an object came from: file, 1-based line of its document, kind and name."""

    file: str
    line: int
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({self.file}:{self.line})"


@dataclass(frozen=True)
class K8sObject:
    kind: str
    api_version: str
    name: str
    namespace: str | None
    body: dict[str, Any]
    source: Source


@dataclass(frozen=True)
class Finding:
    """Something the user should know: ``why`` it matters and ``todo``, what to do."""

    severity: Severity
    source: Source
    why: str
    todo: str


@dataclass
class Process:
    """A process type: ``web`` (behind an HTTP Service or Ingress) or a worker."""

    type: str
    image: str | None
    command: str | None  # a shell command line; $(VAR) already rewritten to ${VAR}
    quantity: int = 1
    size: str = "basic"
    port: int | None = None  # the container port, when the image does not read $PORT
    check_path: str | None = None  # from an HTTP readiness probe
    sources: list[Source] = field(default_factory=list)
    # the manifest's `command` replaces the image's ENTRYPOINT (not only its CMD)
    replaces_entrypoint: bool = False
    # (Service port, container port) where they differ: the group calls the Service's port
    ports: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class ConfigVar:
    key: str
    value: str | None  # None: a secret the user must supply (never written in clear)
    secret: bool = False
    description: str = ""
    # where an unknown value comes from ("Secret/rabbitmq/password"): every var with the same
    # origin gets the same generated value, in every app of the import
    origin: str | None = None


@dataclass
class AddonNeed:
    """A ``postgresql`` / ``redis`` add-on in place of a database workload or chart."""

    service: Literal["postgresql", "redis"]
    attachment: str  # DATABASE, REDIS: the config var is <attachment>_URL
    replaces: list[Source] = field(default_factory=list)
    # env vars of the app rewritten from the add-on URL: key -> template such as
    # "${DATABASE_URL}" or "{host}" / "{port}" / "{user}" / "{password}" / "{database}"
    rewrites: dict[str, str] = field(default_factory=dict)


@dataclass
class RegistryLogin:
    """Credentials for a registry the app's images come from (a pod's imagePullSecrets).
    The password is a secret: never written to a file or shown (see convert.output)."""

    host: str
    username: str
    password: str = field(repr=False)
    source: Source | None = None


@dataclass
class VolumeNeed:
    """A persistent volume the app needs (a claim, or a database's emptyDir), mounted in one
    process type, which then runs at most one dyno."""

    name: str
    path: str
    process_type: str
    size: str = "1GB"
    source: Source | None = None


@dataclass
class ScheduledJob:
    name: str
    cron: str
    command: str
    sources: list[Source] = field(default_factory=list)


@dataclass
class AppPlan:
    name: str
    processes: list[Process] = field(default_factory=list)
    config: list[ConfigVar] = field(default_factory=list)
    addons: list[AddonNeed] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    schedules: list[ScheduledJob] = field(default_factory=list)
    release_command: str | None = None
    aliases: list[str] = field(default_factory=list)  # Service names other apps use
    registry_logins: list[RegistryLogin] = field(default_factory=list)
    volumes: list[VolumeNeed] = field(default_factory=list)
    # not on the router: no Ingress, LoadBalancer or NodePort exposed it (Kubernetes' default)
    private: bool = False
    autoscale: tuple[int, int] | None = None  # HPA min/max, noted
    sources: list[Source] = field(default_factory=list)


@dataclass
class Conversion:
    apps: list[AppPlan]
    group: str | None
    findings: list[Finding]
    objects: list[K8sObject]
    origin: str = ""  # the import's identity ("k8s:<hash of its inputs>"), set by the CLI

    def uncovered(self) -> list[K8sObject]:
        """Objects neither used by a plan nor named by a finding (must be empty)."""
        used = {s for app in self.apps for s in _sources(app)} | {f.source for f in self.findings}
        return [o for o in self.objects if o.source not in used]


def _sources(app: AppPlan) -> list[Source]:
    out = list(app.sources)
    for p in app.processes:
        out += p.sources
    for a in app.addons:
        out += a.replaces
    for j in app.schedules:
        out += j.sources
    return out
