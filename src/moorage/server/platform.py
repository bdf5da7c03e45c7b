"""Wiring: the objects one running control plane shares (built once in ``moor server``)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from moorage.addons.base import Provider
from moorage.addons.postgres.archive import Archive
from moorage.addons.postgres.cluster import Cluster
from moorage.addons.postgres.dedicated import Clusters
from moorage.addons.postgres.pooler import Poolers
from moorage.addons.postgres.provider import PostgresProvider
from moorage.addons.redis.provider import RedisProvider
from moorage.egress import Egress
from moorage.errors import MoorageError
from moorage.gitpush import repos as git_repos
from moorage.logs.drains import DrainManager
from moorage.logs.routerfiles import RouterLog
from moorage.logs.store import LogStore
from moorage.registry.client import RegistryClient
from moorage.registry.failures import PushFailure, RegistryLog
from moorage.registry.fetch import ImageFetcher
from moorage.registry.process import RegistryProcess
from moorage.registry.skopeo import Skopeo
from moorage.registry.tokens import TokenIssuer
from moorage.router import neighbours
from moorage.router.certs import ensure_edge_certs
from moorage.router.nginx import Edge, NginxRouter, access_log
from moorage.server.addresses import subnet_pool
from moorage.server.background import reviewreaper
from moorage.server.background.addonkeeper import AddonKeeper
from moorage.server.background.builder import Builder, BuildLimits
from moorage.server.background.builder import release_with as build_release_with
from moorage.server.background.imagejobs import ImageJobs, release_with
from moorage.server.background.logpump import DynoLogPump, PlatformLog, RouterFeed
from moorage.server.background.metrics import Recorder
from moorage.server.background.reconciler import Reconciler
from moorage.server.background.scheduler import Scheduler
from moorage.server.background.setup import setup_with
from moorage.server.engines import make_runtime
from moorage.server.services import drains as drain_service
from moorage.server.services import reviewdeploy
from moorage.server.services.domainproof import Prover
from moorage.server.sessions.dynos import DynoSessions
from moorage.server.sessions.rendezvous import Rendezvous
from moorage.server.store.db import Store, upgrade
from moorage.server.store.models import SEALED, Addon
from moorage.settings import Settings
from moorage.spec.status import AddonService

if TYPE_CHECKING:
    from moorage.server.sessions.sshgate import Gateway

log = logging.getLogger("moorage.server")
DOCKER_CERTS = Path("/etc/docker/certs.d")


@dataclass
class Platform:
    settings: Settings
    store: Store
    issuer: TokenIssuer
    registry: RegistryClient
    providers: dict[str, Provider]
    logs: LogStore
    reconciler: Reconciler | None = None
    sessions: DynoSessions | None = None  # one-offs, exec, attach, output, stats
    keeper: AddonKeeper | None = None
    components: list[RegistryProcess | Cluster] = field(default_factory=list)
    background: list[Callable[[threading.Event], None]] = field(default_factory=list)
    drains: DrainManager | None = None
    secret: bytes = b""  # signs capability URLs (release output streams)
    metrics: Recorder | None = None
    push_failures: RegistryLog | None = None  # why pushes failed, read from the registry's log
    rendezvous: Rendezvous | None = None  # `heroku run`'s TLS attach (sessions/rendezvous.py)
    sshgate: Gateway | None = None  # `heroku ps:exec`'s SSH server (sessions/sshgate.py), when on

    @functools.cached_property
    def images(self) -> ImageJobs:
        """Releases from image references; jobs a stopped server was running are failed."""
        workdir = self.settings.data_dir / "skopeo"
        skopeo = Skopeo(workdir, copy_timeout=self.settings.image_pull_timeout)
        fetcher = ImageFetcher(skopeo, self.settings.registry_mirrors)
        jobs = ImageJobs(
            self.store,
            self.registry,
            self.issuer,
            fetcher,
            self.emit,
            release_with(self),
            self.reconciler,
        )
        jobs.recover()
        return jobs

    @functools.cached_property
    def builder(self) -> Builder:
        """Builds from ``git push``; builds a stopped server was running are failed."""
        s = self.settings
        builder = Builder(
            self.store,
            self.registry.host,
            self.issuer,
            self.emit,
            build_release_with(self),
            BuildLimits(memory=s.build_memory, timeout=s.build_timeout),
            workers=s.build_workers,
        )
        builder.setup = setup_with(self)
        builder.after = reviewdeploy.postdeploy_with(self)
        builder.recover()
        return builder

    @functools.cached_property
    def prover(self) -> Prover:
        """Looks custom domains' ownership proofs up in DNS."""
        return Prover(self.secret, self.settings.dns_resolvers)

    def sync_drains(self) -> None:
        """Start and stop drain forwarders to match the store."""
        if self.drains is not None:
            with self.store.session() as s:
                self.drains.sync(drain_service.all_drains(s))

    def push_failed(self, failure: PushFailure) -> None:
        """Say in the app's log stream (and ours, with the folder) that a push ran out of
        space: the Heroku CLI only shows Docker's bare 500."""
        log.warning(
            "registry: an upload to %s failed, its disk is full (%s)",
            failure.repository,
            self.registry.storage,
        )
        self.emit(failure.app, "registry", self.registry.filled_during_push(failure.repository))

    def forget_app(self, name: str, *, destroyed: bool) -> None:
        """Remove the log and metric history kept under an app's name: at destroy (lines
        still on their way are dropped) and when the name is taken again, so a new owner
        of the name never reads the last one's."""
        self.logs.delete_app(name, gone=destroyed)
        git_repos.remove(self.settings.data_dir / "git", name)
        if self.metrics is not None:
            self.metrics.forget(name)
        if self.push_failures is not None:
            self.push_failures.forget(name)

    def remove_backups(self, addon_ids: list[str]) -> None:
        """Delete the backup files of destroyed add-ons (there is no retention after an
        add-on is gone: nobody could restore them)."""
        for addon_id in addon_ids:
            if addon_id not in ("", ".", ".."):  # ids are UUIDs; never the folder itself
                shutil.rmtree(self.settings.backups / addon_id, ignore_errors=True)

    def emit(self, app: str, process: str, message: str) -> None:
        """A platform line in ``app``'s log stream (``moorage[api]: Scaled to web@3``)."""
        PlatformLog(self.logs).emit(app, process, message)

    def start_background(self, stop: threading.Event) -> None:
        """The reconciler, supervisor, event watcher and log tails, as daemon threads."""
        _ = self.builder  # fails the builds a stopped server ran now, not at the next push's
        for target in self.background:
            name = getattr(target, "__name__", "background")
            threading.Thread(target=target, args=(stop,), daemon=True, name=name).start()


PRIVATE_FILES = ("state.db", "state.db-wal", "state.db-shm", "server.log", "server.pid")
PRIVATE_DIRS = ("registry", "logs", "backups")


def make_private(settings: Settings) -> None:
    """Root's alone, at every start (installs made before are fixed too): the state store
    (SQLite makes its -wal and -shm files with the database's mode), the server's log, the
    registry's layers, app logs and backups. Other users (nobody, as nginx workers were)
    may only pass through the data folder to the router's pages."""
    data = settings.data_dir
    data.chmod(0o711)
    for name in PRIVATE_FILES:
        if (data / name).exists():
            (data / name).chmod(0o600)
    for folder in (*(data / name for name in PRIVATE_DIRS), settings.backups):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)


def prepare_store(settings: Settings) -> Store:
    """The state store at head, its secrets sealed with ``<data>/secret.key``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o711)
    upgrade(settings.database_url)
    make_private(settings)
    store = Store(settings.database_url, load_secret(settings.data_dir / "secret.key"))
    if sealed := store.seal_existing(SEALED):
        log.warning("sealed %d config, add-on and key values stored in plain text", sealed)
    return store


def build(settings: Settings) -> Platform:
    """Start (or adopt) the registry and PostgreSQL, and wire the reconciler."""
    store = prepare_store(settings)
    registry_proc = RegistryProcess(
        settings.data_dir / "registry", settings.registry_port, f"{settings.api_url}/registry/token"
    )
    registry_proc.ensure_running()
    issuer = TokenIssuer(registry_proc.key)
    registry = RegistryClient(settings.registry_host, issuer, registry_proc.root / "data")
    secret = load_secret(settings.data_dir / "secret.key")
    runtime = make_runtime(settings, registry.pull_token, secret, subnet_pool(settings, store))
    gateway = runtime.host_gateway_ip()
    cluster, providers = _addons(settings, store, gateway)
    router = NginxRouter(settings.data_dir / "router", settings.router_port, edge(settings, secret))
    router.root.mkdir(parents=True, exist_ok=True)
    neighbours.ensure_room()  # an ARP entry per dyno the router talks to
    router_log = RouterLog(access_log(router.root), reopen=router.reopen_logs)
    logs = open_logs(settings, router_log)
    platform = Platform(settings, store, issuer, registry, providers, logs)
    platform.secret = secret
    platform.push_failures = RegistryLog(registry_proc.root / "registry.log", platform.push_failed)
    reconciler = Reconciler(store, runtime, router, settings, emit=platform.emit)
    sessions = DynoSessions(runtime, router, settings, platform.emit, reconciler.finish_oneoff)
    pump = DynoLogPump(sessions, logs, settings.data_dir / "logs")
    reconciler.reapable = pump.finished
    reconciler.observers.append(pump.sync)
    recorder = Recorder(store)
    logs.on_drop = recorder.log_dropped
    reconciler.lifecycle.append(recorder.observe_lifecycle)
    platform.metrics = recorder
    platform.reconciler = reconciler
    platform.sessions = sessions
    platform.components = [registry_proc, cluster]
    feed = _drains(platform, router_log)
    platform.keeper = AddonKeeper(store, providers, reconciler, platform.emit, settings.backups)
    platform.background = [
        *_rendezvous(platform, sessions),
        *_loops(platform, reconciler, sessions),
        feed.run,
        Scheduler(store, reconciler, sessions, platform.emit).loop,
        platform.keeper.loop,
        reviewreaper.loop_for(platform),
    ]
    return platform


def _drains(platform: Platform, router_log: RouterLog) -> RouterFeed:
    """Log drains: what the platform's log store and the router's log feed them."""
    settings, recorder = platform.settings, platform.metrics
    platform.drains = DrainManager(
        settings.domain,
        ca_file=settings.drain_ca_file,
        egress=Egress(settings.egress_allow),
        on_drop=recorder.log_dropped if recorder else None,
    )
    platform.logs.add_listener(platform.drains.offer, platform.drains.wants)
    platform.sync_drains()
    return RouterFeed(router_log, platform.drains.apps, platform.drains.offer)


def _loops(
    platform: Platform, reconciler: Reconciler, sessions: DynoSessions
) -> list[Callable[[threading.Event], None]]:
    """The reconciler's own loops, the components' supervisor and the metrics sampler."""
    recorder = platform.metrics

    def watch_events(stop: threading.Event) -> None:
        reconciler.watch(stop)

    def supervisor(stop: threading.Event) -> None:
        supervise(platform, stop)

    def sample_metrics(stop: threading.Event) -> None:
        if recorder is not None:
            recorder.loop(stop, sessions.dyno_stats, sessions.router_stats)

    return [reconciler.loop, supervisor, watch_events, sample_metrics]


def _rendezvous(
    platform: Platform, sessions: DynoSessions
) -> list[Callable[[threading.Event], None]]:
    """`heroku run`'s TLS listener, with the edge's certificate (``*.<domain>``)."""
    settings = platform.settings
    if not settings.rendezvous_port or not settings.https_port:
        return []
    certs = ensure_edge_certs(settings.tls_dir, settings.domain)
    host = f"rendezvous.{settings.domain}"
    rendezvous = Rendezvous(sessions, host, settings.rendezvous_port, settings.rendezvous_bind)
    platform.rendezvous = rendezvous

    def serve(stop: threading.Event) -> None:
        rendezvous.serve(stop, certs.cert, certs.key)

    return [serve, *_sshgate(platform, sessions)]


def _sshgate(platform: Platform, sessions: DynoSessions) -> list[Callable[[threading.Event], None]]:
    """`heroku ps:exec`'s SSH server on MOORAGE_EXEC_TUNNEL (host key kept in tls/)."""
    settings = platform.settings
    host, _, port = settings.exec_tunnel.rpartition(":")
    if not host or not port.isdigit():
        return []
    from moorage.server.sessions.sshgate import Gateway  # asyncssh loads only when it is on

    gate = Gateway(sessions, settings.tls_dir / "ssh_host_ed25519_key", host, int(port))
    gate.tunnel_host = host
    platform.sshgate = gate
    return [gate.serve]


def _addons(settings: Settings, store: Store, gateway: str) -> tuple[Cluster, dict[str, Provider]]:
    """The shared PostgreSQL (started or adopted) and the add-on providers."""
    cluster = Cluster(
        settings.data_dir / "postgres",
        settings.postgres_port,
        ["127.0.0.1", gateway],
        [str(settings.subnet_pool)],
    )
    cluster.refresh()
    clusters = Clusters(
        settings.data_dir / "postgres-clusters",
        ["127.0.0.1", gateway],
        settings.postgres_ports,
        Archive(settings.data_dir / "pgbackrest"),
        [str(settings.subnet_pool)],
    )
    poolers = Poolers(
        settings.data_dir / "pgbouncer", ["127.0.0.1", gateway], settings.pgbouncer_ports
    )
    postgres = PostgresProvider(cluster, gateway, clusters, poolers)
    with store.session() as s:  # databases made before the shared catalogs were hidden
        made = s.scalars(
            select(Addon.resource).where(Addon.service == AddonService.POSTGRESQL)
        ).all()
    postgres.harden(list(made))
    for gone in postgres.sweep(set(made)):
        log.warning("removed the cluster of %s: its creation never finished", gone)
    redis = RedisProvider(
        settings.data_dir / "redis", gateway, ["127.0.0.1", gateway], settings.redis_ports
    )
    return cluster, {AddonService.POSTGRESQL: postgres, AddonService.REDIS: redis}


def load_secret(path: Path) -> bytes:
    """32 random bytes kept in ``path`` (root only), made on first start."""
    if not path.exists():
        staged = path.with_name(path.name + ".new")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        os.replace(staged, path)
    return path.read_bytes()


@functools.cache  # asked for on every request through the edge; the secret never changes
def edge_proof(secret: bytes) -> str:
    """What the edge shows the API to have its X-Forwarded-For believed."""
    return hmac.new(secret, b"moorage edge", hashlib.sha256).hexdigest()


def edge(settings: Settings, secret: bytes) -> Edge | None:
    """HTTPS at the edge with the platform CA (made on first start), unless the port is 0."""
    if not settings.https_port:
        return None
    certs = ensure_edge_certs(settings.tls_dir, settings.domain)
    trust_in_docker(settings, certs.ca)
    return Edge(
        settings.domain,
        settings.https_port,
        f"{settings.api_host}:{settings.api_port}",
        settings.registry_host,
        certs,
        edge_proof(secret),
    )


def trust_in_docker(settings: Settings, ca: Path) -> None:
    """Docker trusts the platform CA for ``registry.<domain>`` (its ``certs.d``)."""
    folder = DOCKER_CERTS / settings.public_registry
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "ca.crt"
        if not target.exists() or target.read_bytes() != ca.read_bytes():
            target.write_bytes(ca.read_bytes())
    except OSError as exc:
        log.warning("cannot add the platform CA to %s: %s", folder, exc)


def open_logs(settings: Settings, router: RouterLog | None = None) -> LogStore:
    """The apps' log histories; the router's lines stay in nginx's access log."""
    root = settings.data_dir / "logs"
    root.mkdir(mode=0o700, exist_ok=True)
    return LogStore(root, router=router or RouterLog(access_log(settings.data_dir / "router")))


_quiet_before: dict[Path, bool] = {}  # registry root -> idle and holding space last tick


def _reclaim_registry_space(platform: Platform) -> None:
    """Remove uploads of pushes that stopped (a full disk, a dropped connection); when the
    registry still holds their deleted files open, restart it so the space comes back.

    Distribution 2.8 (Debian's) leaks the file of an upload whose last write failed with
    ENOSPC (its filesystem writer returns from Close before closing the file), so any deleted
    file it holds, however small, counts: it keeps the space and the volume busy."""
    if platform.push_failures is not None:
        platform.push_failures.scan()
    freed = platform.registry.purge_idle_uploads(platform.settings.registry_upload_idle)
    if freed:
        log.warning("removed %d MiB of abandoned registry uploads", freed >> 20)
    for component in platform.components:
        if not isinstance(component, RegistryProcess):
            continue
        files, held = component.held_deleted()
        idle = files > 0 and not platform.registry.uploads_in_progress()
        if idle and not _quiet_before.get(component.root):
            _quiet_before[component.root] = True  # restart only if still so at the next tick
            continue
        _quiet_before[component.root] = False
        if idle:
            log.warning(
                "the registry holds %d deleted uploads (%d MiB) open; restarting it",
                files,
                held >> 20,
            )
            component.restart()


def supervise(platform: Platform, stop: threading.Event, interval: float = 5.0) -> None:
    """Restart the registry or PostgreSQL when they die; have the reconciler start nginx
    again when it died (its passes are 30 s apart when nothing moves)."""
    while not stop.wait(interval):
        if platform.reconciler is not None:
            platform.reconciler.check_router()
        try:
            _reclaim_registry_space(platform)
        except (OSError, MoorageError):
            log.exception("cannot reclaim the space of abandoned registry uploads")
        for component in platform.components:
            try:
                if component.ensure_running():
                    log.warning("restarted %s", type(component).__name__)
            except Exception:
                log.exception("cannot restart %s", type(component).__name__)
