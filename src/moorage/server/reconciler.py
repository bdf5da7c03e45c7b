"""The reconciler: the one loop that makes the running world match the desired state.

It is the only caller of the runtime and the router. Each pass reads the store (apps, their
current release, formation), compares with the dynos the runtime reports, and converges:
start missing dynos, replace dynos of an older release or shape (start new, wait for its
port, switch the router, then stop the old one with a drain period), remove extra dynos and
the resources of deleted apps, restart crashed dynos with exponential backoff. A release is
marked ``succeeded`` when all its dynos are up, ``failed`` (with the reason) when one fails
its boot check, in which case the previous release keeps serving.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from moorage.errors import MoorageError
from moorage.router.base import Router
from moorage.runtime.base import Runtime
from moorage.server.services import apps as app_service
from moorage.server.services import releases as release_service
from moorage.server.store.db import Store
from moorage.server.store.models import Release
from moorage.settings import Settings
from moorage.spec.dyno import DEFAULT_PIDS_LIMIT, DYNO_SIZES, Dyno, DynoSpec, Route

log = logging.getLogger("moorage.reconciler")
DEFAULT_PORT = 8080
DRAIN_SECONDS = 30.0
ROUTER_SETTLE_SECONDS = 3.0
MAX_BACKOFF = 60.0


@dataclass
class Desired:
    specs: dict[str, DynoSpec] = field(default_factory=dict)
    web_apps: set[str] = field(default_factory=set)
    apps: set[str] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)  # app -> version rolling out


@dataclass
class Backoff:
    attempts: int = 0
    next_at: float = 0.0


class Reconciler:
    def __init__(self, store: Store, runtime: Runtime, router: Router, settings: Settings) -> None:
        self.store = store
        self.runtime = runtime
        self.router = router
        self.settings = settings
        self._cond = threading.Condition()
        self._requested = 0
        self._completed = 0
        self._backoff: dict[str, Backoff] = {}
        self._drainer = ThreadPoolExecutor(max_workers=8, thread_name_prefix="drain")
        self.last_error: str | None = None
        self.settle_seconds = ROUTER_SETTLE_SECONDS

    # -- desired state ----------------------------------------------------------------------
    def desired(self) -> Desired:
        want = Desired()
        with self.store.session() as s:
            for app in app_service.all_apps(s):
                want.apps.add(app.name)
                rel = release_service.current(s, app)
                if any(f.type == "web" for f in app.formations) or rel is None:
                    want.web_apps.add(app.name)
                if rel is None:
                    continue
                if rel.status == "pending":
                    want.pending[app.name] = rel.version
                for f in app.formations:
                    if f.type not in rel.images:
                        continue
                    for n in range(1, f.quantity + 1):
                        env = {**rel.config, "DYNO": f"{f.type}.{n}"}
                        port = None
                        if f.type == "web":
                            port = f.port or DEFAULT_PORT
                            env["PORT"] = str(port)
                        spec = DynoSpec(
                            app=app.name,
                            type=f.type,
                            number=n,
                            release=rel.version,
                            image=rel.images[f.type],
                            env=env,
                            command=shlex.split(f.command) if f.command else None,
                            port=port,
                            memory_mb=DYNO_SIZES.get(f.size, 512),
                            pids_limit=DEFAULT_PIDS_LIMIT,
                        )
                        want.specs[spec.name] = spec
        return want

    # -- one pass ---------------------------------------------------------------------------
    def run_once(self) -> None:
        want = self.desired()
        observed = {d.name: d for d in self.runtime.list_dynos()}
        for gone in self.runtime.apps() - want.apps:
            log.info("removing resources of deleted app %s", gone)
            self.runtime.remove_app(gone)
        live = {n: d for n, d in observed.items() if d.state == "up" and n in want.specs}
        failed: dict[str, str] = {}
        extra = [d for n, d in observed.items() if n not in want.specs and d.app in want.apps]
        if extra:  # take them out of the router first, then drain
            self.router.apply(self._routes(live, want))
            for d in extra:
                self._drain(d)
        for name, spec in sorted(want.specs.items()):
            if spec.app in failed:
                continue
            reason = self._converge(spec, observed.get(name), live, want)
            if reason:
                failed[spec.app] = reason
        self.router.apply(self._routes(live, want))
        self._record_releases(want, live, failed)

    def _converge(
        self, spec: DynoSpec, d: Dyno | None, live: dict[str, Dyno], want: Desired
    ) -> str | None:
        if d is None:
            return self._start(spec, live, want, old=None)
        if d.fingerprint != spec.fingerprint():
            return self._start(spec, live, want, old=d)
        if d.state == "crashed":
            self._restart_crashed(d)
        elif d.state == "up":
            self._backoff.pop(d.name, None)
        return None

    def _start(
        self, spec: DynoSpec, live: dict[str, Dyno], want: Desired, old: Dyno | None
    ) -> str | None:
        if old is not None:
            self.runtime.retire(old)
        log.info("starting %s (v%d)", spec.name, spec.release)
        try:
            new = self.runtime.start(spec)
            reason = self.runtime.wait_ready(new, self.settings.boot_timeout)
        except MoorageError as exc:
            new, reason = None, exc.message
        if reason is not None:
            log.warning("release v%d of %s failed: %s", spec.release, spec.app, reason)
            if new is not None:
                self.runtime.stop(new.id, grace=1)
            if old is not None:
                self.runtime.unretire(old)
            return reason
        assert new is not None
        live[spec.name] = new
        if old is not None:
            self.router.apply(self._routes(live, want))
            self._drain(old)
        return None

    def _drain(self, d: Dyno) -> None:
        """Stop ``d`` once the router's old workers are gone (they may still send it requests)."""

        def later() -> None:
            time.sleep(self.settle_seconds)
            self.runtime.stop(d.id, DRAIN_SECONDS)

        self._drainer.submit(later)

    def _restart_crashed(self, d: Dyno) -> None:
        b = self._backoff.setdefault(d.name, Backoff())
        now = time.monotonic()
        if now < b.next_at:
            return
        log.info("restarting crashed %s (exit %s, attempt %d)", d.name, d.exit_code, b.attempts + 1)
        self.runtime.restart(d)
        b.next_at = now + min(2.0**b.attempts, MAX_BACKOFF)
        b.attempts += 1

    def _routes(self, live: dict[str, Dyno], want: Desired) -> list[Route]:
        routes = []
        for app in sorted(want.web_apps):
            backends = tuple(
                sorted(
                    f"{d.ip}:{d.port}"
                    for d in live.values()
                    if d.app == app and d.type == "web" and d.ip
                )
            )
            routes.append(Route(app=app, hosts=(self.settings.app_host(app),), backends=backends))
        return routes

    def _record_releases(
        self, want: Desired, live: dict[str, Dyno], failed: dict[str, str]
    ) -> None:
        with self.store.session() as s:
            for app, version in want.pending.items():
                app_specs = [sp for sp in want.specs.values() if sp.app == app]
                rel = (
                    s.query(Release)
                    .join(Release.app)
                    .filter(Release.version == version, Release.app.has(name=app))
                    .one_or_none()
                )
                if rel is None:
                    continue
                if app in failed:
                    rel.status, rel.status_reason = "failed", failed[app]
                elif all(sp.name in live and live[sp.name].release == version for sp in app_specs):
                    rel.status = "succeeded"
                    for older in rel.app.releases:
                        if older.version < version and older.status == "pending":
                            older.status = "succeeded"
                            older.status_reason = f"superseded by v{version} before it rolled out"

    # -- loop -------------------------------------------------------------------------------
    def request(self, wait: bool = True, timeout: float = 180.0) -> None:
        """Ask for a pass; with ``wait``, return once a pass that started after now is done."""
        with self._cond:
            self._requested += 1
            target = self._requested
            self._cond.notify_all()
            if wait:
                self._cond.wait_for(lambda: self._completed >= target, timeout=timeout)

    def loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._cond:
                self._cond.wait_for(
                    lambda: self._requested > self._completed or stop.is_set(),
                    timeout=self.settings.reconcile_interval,
                )
                target = self._requested
            try:
                self.run_once()
                self.last_error = None
            except MoorageError as exc:
                self.last_error = exc.message
                log.error("reconcile pass failed: %s", exc.message)
            except Exception:
                log.exception("reconcile pass crashed")
            with self._cond:
                self._completed = max(self._completed, target)
                self._cond.notify_all()
