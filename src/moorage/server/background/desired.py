"""The desired state the reconciler works toward, computed purely from store rows.

:func:`desired_for` turns an app and its current release into dyno specs, the release phase
to run, and the host names and certificates to route; :class:`Plan` is what one app needs
to get there from the dynos that run now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from moorage.server.services.domainproof import Claims
from moorage.server.store.models import App, Formation, Release
from moorage.spec.dyno import (
    DEFAULT_BOOT_TIMEOUT,
    DEFAULT_PIDS_LIMIT,
    SIZES,
    Dyno,
    DynoName,
    DynoSpec,
    HostCert,
    VolumeMount,
    command_argv,
)
from moorage.spec.status import ReleaseStatus

DEFAULT_PORT = 8080


@dataclass
class Phase:
    """The release phase of a pending release: image and command."""

    image: str
    command: list[str]
    env: dict[str, str]


@dataclass
class Desired:
    specs: dict[str, DynoSpec] = field(default_factory=dict)
    web_apps: set[str] = field(default_factory=set)
    apps: set[str] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)  # app -> version rolling out
    phases: dict[str, Phase] = field(default_factory=dict)  # app -> release phase to run
    domains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # app -> custom hosts
    certs: dict[str, tuple[HostCert, ...]] = field(default_factory=dict)  # app -> custom certs
    volumes: set[tuple[str, str]] = field(default_factory=set)  # (app, volume) that exist


def _aliases(app: App) -> tuple[str, ...]:
    """The names web dynos answer to on the group network: ``<app>.internal`` and the
    app's aliases (the Kubernetes Service names other apps of the group still use)."""
    return tuple(dict.fromkeys([f"{app.name}.internal", *(app.aliases or [])]))


def desired_for(
    app: App,
    rel: Release | None,
    want: Desired,
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT,
    read_only: bool = False,
    claims: Claims | None = None,
) -> None:
    """Add ``app``'s dynos at release ``rel`` to ``want`` (pure: store rows in, specs out);
    ``read_only``: the platform's ``MOORAGE_DYNO_READ_ONLY``; ``claims``: which custom
    domains are routed (default: all)."""
    want.apps.add(app.name)
    want.volumes.update((app.name, v.name) for v in app.volumes)
    routed = [] if app.internal_routing else app.domains
    routed = claims.routed(routed) if claims is not None else routed
    want.domains[app.name] = tuple(d.hostname for d in routed)
    want.certs[app.name] = tuple(
        HostCert(d.hostname, d.sni_endpoint.certificate_chain, d.sni_endpoint.private_key)
        for d in routed
        if d.sni_endpoint is not None
    )
    if not app.internal_routing and (any(f.type == "web" for f in app.formations) or rel is None):
        want.web_apps.add(app.name)  # a private app is not on the router at all
    if rel is None:
        return
    if rel.status == ReleaseStatus.PENDING:
        want.pending[app.name] = rel.version
        phase_image = rel.images.get("release") or rel.images.get("web")
        if phase_image and (rel.release_command or "release" in rel.images):
            argv = command_argv(rel.release_command or "")
            want.phases[app.name] = Phase(phase_image, argv, dict(rel.config))
    for f in app.formations:
        image = rel.images.get(f.type) or rel.images.get("web")
        if image is not None and f.type != "release":
            for spec in _specs(app, rel, f, image, boot_timeout, read_only):
                want.specs[spec.name] = spec


def _specs(
    app: App, rel: Release, f: Formation, image: str, boot_timeout: float, read_only: bool
) -> list[DynoSpec]:
    """The dynos of one formation at ``rel``."""
    restarts: dict[str, int] = {k: int(v) for k, v in (app.restarts or {}).items()}
    size = SIZES.get(f.size, SIZES["basic"])
    command = f.command or rel.commands.get(f.type)
    argv = command_argv(command) if command else None
    entrypoint = argv if argv and f.replaces_entrypoint else None
    mounts = tuple(
        VolumeMount(v.name, v.path) for v in app.volumes if v.process_type == f.type and v.path
    )
    out = []
    for n in range(1, (min(f.quantity, 1) if mounts else f.quantity) + 1):
        label = str(DynoName(f.type, n))
        env = {**rel.config, "DYNO": label}
        port = None
        if f.type == "web":
            port = f.port or DEFAULT_PORT
            env["PORT"] = str(port)
        out.append(
            DynoSpec(
                app=app.name,
                type=f.type,
                number=n,
                release=rel.version,
                image=image,
                env=env,
                command=None if entrypoint else argv,
                entrypoint=entrypoint,
                port=port,
                memory_mb=size.memory_mb,
                cpus=size.cpus,
                pids_limit=DEFAULT_PIDS_LIMIT,
                generation=restarts.get(f.type, 0) + restarts.get(label, 0),
                check_path=f.check_path if f.type == "web" else None,
                boot_timeout=float(f.boot_timeout or 0) or boot_timeout,
                group=app.group,
                aliases=_aliases(app) if f.type == "web" and app.group else (),
                read_only=read_only,
                volumes=mounts,
                ports=tuple((p, t) for p, t in (f.ports or []) if p != t),
            )
        )
    return out


@dataclass
class Plan:
    """What one app needs: dynos to (re)boot, extras to drain, the ready set to publish."""

    app: str
    boot: list[DynoSpec]
    old: dict[str, Dyno]  # spec name -> the dyno it replaces
    extras: list[Dyno]
    keep: list[Dyno]  # current dynos that stay
    phase: bool = False  # a release phase must run first

    @property
    def needs_rollout(self) -> bool:
        return bool(self.boot) or self.phase
