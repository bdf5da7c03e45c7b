"""Deployment, StatefulSet, ReplicaSet, ReplicationController, Pod -> process types.

:func:`workload` reads the pod template once (main container, sidecars, init containers,
replicas); :func:`process` makes the :class:`Process` (command, quantity, size, port, check)
and :func:`init_steps` sorts init containers into release commands and dropped waits.
Pod settings with no equivalent are reported by :mod:`.pods`.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from moorage.convert.kinds import (
    as_dict,
    as_list,
    dicts,
    finding,
    image_base,
    image_repo,
    pod_labels,
    pod_spec,
    quantity,
    shell_command,
    spec_of,
    text,
)
from moorage.convert.model import Finding, K8sObject, Process, Severity, Source
from moorage.errors import InvalidParams
from moorage.spec.dyno import MAX_QUANTITY, SIZES, validate_check_path

MESH_SIDECARS = frozenset({"istio-proxy", "proxyv2", "envoy", "linkerd-proxy", "linkerd2-proxy"})
MIGRATE_RE = re.compile(
    r"migrat|db[:_ -]?upgrade|alembic|flyway|liquibase|prisma|knex|sequelize|schema[:_ -]?update",
    re.I,
)
WAIT_RE = re.compile(r"wait|ready|check|depend|nc -z|until |pg_isready|redis-cli .*ping", re.I)
_ORDERED_SIZES = sorted(SIZES.items(), key=lambda kv: (kv[1].memory_mb, kv[1].cpus))
MIB = 2.0**20


@dataclass
class Workload:
    """A workload's pod template, read once: main container, sidecars, init containers."""

    obj: K8sObject
    labels: dict[str, str]
    main: dict[str, Any]
    sidecars: list[dict[str, Any]] = field(default_factory=list)
    inits: list[dict[str, Any]] = field(default_factory=list)
    replicas: int = 1

    @property
    def image(self) -> str:
        return text(self.main.get("image"))

    @property
    def name(self) -> str:
        return self.obj.name


def workload(obj: K8sObject) -> Workload | None:
    """The :class:`Workload` of a workload object; None when its pod has no container.

    The main container is the one named like the workload, else the first that is not a
    known mesh proxy, else the first; the others are sidecars.
    """
    spec = pod_spec(obj)
    found = dicts(spec.get("containers"))
    if not found:
        return None
    main = next((c for c in found if text(c.get("name")) == obj.name), None)
    main = main or next((c for c in found if not is_mesh(c)), found[0])
    replicas: object = 1 if obj.kind == "Pod" else spec_of(obj).get("replicas", 1)
    count = 1
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas >= 0:
        count = replicas
    return Workload(
        obj,
        pod_labels(obj),
        main,
        [c for c in found if c is not main],
        dicts(spec.get("initContainers")),
        count,
    )


def is_mesh(container: dict[str, Any]) -> bool:
    """Whether the container is a service-mesh proxy (Istio, Linkerd, Envoy)."""
    names = {text(container.get("name")), image_base(text(container.get("image")))}
    return bool(names & MESH_SIDECARS)


def container_port(w: Workload, target: object = None) -> int | None:
    """The main container's port a Service ``targetPort`` means (a number or a port name).

    With no target, the first ``containerPort``; None when nothing names a port.
    """
    ports = dicts(w.main.get("ports"))
    if isinstance(target, int):
        return _port(target)
    if isinstance(target, str) and target:
        if target.isascii() and target.isdigit():
            return _port(int(target)) if len(target) <= 5 else None
        named = [p.get("containerPort") for p in ports if text(p.get("name")) == target]
        return _port(named[0]) if named else None
    return _port(ports[0].get("containerPort")) if ports else None


def _port(value: object) -> int | None:
    """``value`` if it is a TCP port number (1-65535), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    return None


def size_for(container: dict[str, Any]) -> tuple[str, str]:
    """The smallest dyno size whose memory (and CPU, when limited) fits the container.

    Memory is the limit, else the request; returns the size and a sentence saying why
    (empty when the manifest asks for nothing and the default ``basic`` is used).
    """
    res = as_dict(container.get("resources"))
    limits, requests = as_dict(res.get("limits")), as_dict(res.get("requests"))
    memory = quantity(limits.get("memory"))
    basis = "limit"
    if memory is None and quantity(requests.get("memory")) is not None:
        memory, basis = quantity(requests.get("memory")), "request (no limit)"
    cpus = quantity(limits.get("cpu")) or 0.0
    if memory is None and not cpus:
        return "basic", ""
    mib = (memory or 0.0) / MIB
    for name, size in _ORDERED_SIZES:
        if size.memory_mb >= mib and size.cpus >= cpus:
            asked = f"memory {basis} {mib:g} MiB" if memory is not None else "no memory limit"
            cpu = f", CPU limit {cpus:g}" if cpus else ""
            return name, f"{asked}{cpu} -> {name} ({size.memory_mb} MiB, {size.cpus:g} CPU)"
    return "performance-l", f"memory {mib:g} MiB is more than the largest size (14336 MiB)"


def process(
    w: Workload, ptype: str, port: int | None, defined: Container[str]
) -> tuple[Process, list[Finding]]:
    """The process type ``ptype`` running the workload's main container.

    ``port`` is set on ``web`` only (the container port, so that images ignoring $PORT still
    answer); the readiness probe gives the check path. Findings: the size chosen, probes
    that do not carry over, and the command's ENTRYPOINT semantics.
    """
    size, why = size_for(w.main)
    out = []
    if why:
        sev: Severity = "warning" if "largest" in why else "info"
        out.append(finding(sev, w.obj, f"Dyno size: {why}.", "Change it with ps:resize."))
    check, notes = _probes(w, ptype == "web", port)
    out += notes
    command = shell_command(w.main, defined)
    replaces = bool(as_list(w.main.get("command")))
    if replaces:
        out.append(
            finding(
                "info",
                w.obj,
                f"{ptype}: `command` replaces the image's ENTRYPOINT, as on Kubernetes; the "
                f"process runs `{command}` (a shell expands $(VAR) references at start).",
                "Nothing to do.",
            )
        )
    if w.replicas > MAX_QUANTITY:
        out.append(
            finding(
                "warning",
                w.obj,
                f"{ptype}: {w.replicas} replicas are more than the {MAX_QUANTITY} dynos a "
                f"process type can have; it is scaled to {MAX_QUANTITY}.",
                "Use larger dynos (ps:resize) or split the work between process types.",
            )
        )
    proc = Process(
        ptype,
        w.image or None,
        command,
        min(w.replicas, MAX_QUANTITY),
        size,
        port if ptype == "web" else None,
        check,
        [w.obj.source],
        replaces,
    )
    return proc, out


def _probes(w: Workload, web: bool, port: int | None) -> tuple[str | None, list[Finding]]:
    ready = as_dict(w.main.get("readinessProbe")) or as_dict(w.main.get("startupProbe"))
    notes: list[str] = []
    check: str | None = None
    http = as_dict(ready.get("httpGet"))
    if web and http:
        check = _check_path(text(http.get("path")), notes)
        if text(http.get("scheme")).upper() == "HTTPS":
            notes.append("the readiness probe uses HTTPS; the platform checks over plain HTTP")
        if http.get("httpHeaders"):
            notes.append("the readiness probe's HTTP headers are not sent by the platform")
        probe_port = http.get("port")
        if port is not None and isinstance(probe_port, int) and probe_port != port:
            notes.append(f"the probe checked port {probe_port}; the platform checks {port}")
    elif ready:
        kind = next((k for k in ("grpc", "exec", "tcpSocket", "httpGet") if k in ready), "?")
        what = "a TCP bind check on $PORT is used" if web else "workers have no check"
        notes.append(f"{kind} readiness probe: {what}")
    if as_dict(w.main.get("livenessProbe")):
        notes.append("the liveness probe is not enforced (crashed dynos restart, hung ones do not)")
    if not notes:
        return check, []
    note = finding(
        "info",
        w.obj,
        "Probes: " + "; ".join(notes) + (f". Check path: {check}" if check else "") + ".",
        "Nothing to do, unless the app needs its own liveness watchdog.",
    )
    return check, [note]


def _check_path(raw: str, notes: list[str]) -> str | None:
    """The probe's path as the platform's check path: rooted at /, with what an HTTP path
    cannot hold as it is (spaces, non-ASCII, control characters) percent-encoded, as the
    kubelet sends it; None (a TCP check) when it is too long."""
    path = quote("/" + raw.removeprefix("/"), safe="/!#$%&'()*+,:;=?@[]~")
    try:
        return validate_check_path(path, "readiness probe")
    except InvalidParams:
        notes.append(
            f"the readiness probe's path ({len(path)} characters) is longer than the platform "
            "accepts; a TCP bind check on $PORT is used"
        )
        return None


def init_steps(
    w: Workload, defined: Container[str]
) -> tuple[list[tuple[str, Source]], list[Finding]]:
    """Init containers: migrations -> release commands, waits dropped, others reported."""
    commands: list[tuple[str, Source]] = []
    out: list[Finding] = []
    for c in w.inits:
        name, line = text(c.get("name")), shell_command(c, defined) or ""
        if MIGRATE_RE.search(name) or MIGRATE_RE.search(line):
            commands.append((line, w.obj.source))
            note = f"init container {name} migrates: it becomes the release command `{line}`"
            if image_repo(text(c.get("image"))) != image_repo(w.image):
                note += f", which runs in the app's image, not in {text(c.get('image'))}"
            out.append(finding("info", w.obj, note + ".", "Check the release command."))
            if not line:
                out[-1] = finding("error", w.obj, note + " (it has no command).", "Set one.")
        elif WAIT_RE.search(name) or WAIT_RE.search(line):
            out.append(
                finding(
                    "info",
                    w.obj,
                    f"Init container {name} waits for a dependency; dropped (the platform "
                    "starts processes without ordering).",
                    "Make the app retry its connections at start.",
                )
            )
        else:
            out.append(
                finding(
                    "warning",
                    w.obj,
                    f"Init container {name} ({text(c.get('image'))}) has no equivalent.",
                    "Do its work in the image's start command or in the release phase.",
                )
            )
    return commands, out
