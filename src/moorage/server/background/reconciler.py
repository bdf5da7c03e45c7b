"""The reconciler: the one loop that makes the running world match the desired state.

It is the only caller that changes the runtime and the router, besides the sessions component
(:mod:`moorage.server.sessions`: one-offs, exec, attach, dyno output and stats), which changes
nothing it converges. Each pass reads the store (apps, their current release, formation),
compares with the dynos the runtime reports, and converges each app:

- nothing to boot: publish the app's ready web dynos to the router, drain extra dynos;
- something to boot (a release, a restart, a scale-up, a new size): a *rollout* in a thread
  of its own, so one app's 60 s boot never holds up another app. A rollout runs the release
  phase (a one-off of the new image; non-zero exit fails the release), moves the old dynos
  aside (they keep serving), starts all new dynos at once, waits until each passes its check
  (TCP bind on ``PORT`` or an HTTP path, within the boot timeout), then switches the router
  and drains the old dynos (out of the router, SIGTERM, 30 s, SIGKILL). If any new dyno fails
  its check, all new dynos are stopped, the old ones get their names back, and the release is
  marked failed with the reason: the old release never stopped serving.

Crashes are the engine's job (restart in place with exponential backoff); the reconciler
learns of them from the runtime's events, logs them, and keeps crashed or not-yet-ready
dynos out of the router.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace

from moorage.errors import MoorageError
from moorage.router.base import Router
from moorage.runtime.base import Runtime
from moorage.server.background import ports
from moorage.server.background.desired import Desired, Phase, Plan, desired_for
from moorage.server.background.passloop import PassLoop
from moorage.server.services import apps as app_service
from moorage.server.services import releases as release_service
from moorage.server.services.domainproof import Claims
from moorage.server.store.db import Store
from moorage.server.store.models import Release
from moorage.settings import Settings
from moorage.spec.dyno import (
    Dyno,
    DynoEvent,
    DynoSpec,
    HostCert,
    OneOffSpec,
    Route,
)
from moorage.spec.status import DynoState, ReleaseStatus

log = logging.getLogger("moorage.reconciler")
DRAIN_SECONDS = 30.0
ROUTER_SETTLE_SECONDS = 3.0
FAILED_BOOT_BACKOFF = 30.0
SWEEP_SECONDS = 15.0
ATTACH_SECONDS = 60.0  # a one-off created for a client that never attaches is removed then
Emit = Callable[[str, str, str], None]  # (app, process, message) -> the app's log stream


def _no_emit(app: str, process: str, message: str) -> None:
    return None


class Reconciler(PassLoop):
    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        router: Router,
        settings: Settings,
        emit: Emit = _no_emit,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.router = router
        self.settings = settings
        self.emit = emit
        super().__init__(settings.reconcile_interval)
        self._lock = threading.RLock()  # guards the fields below and router.apply
        self._unsettled = True  # the last pass saw a dyno not ready, retiring or a release pending
        self._busy: set[str] = set()
        self._ready: set[tuple[str, str]] = set()  # (container id, started at)
        self._backends: dict[str, tuple[str, ...]] = {}
        self._web_apps: set[str] = set()
        self._domains: dict[str, tuple[str, ...]] = {}
        self._certs: dict[str, tuple[HostCert, ...]] = {}
        self._stopping: set[str] = set()  # ids we stop on purpose: their exit is no crash
        self._boot_failed: dict[str, tuple[frozenset[str], float]] = {}
        self._crashed: set[str] = set()  # ids that died on their own; the engine restarts them
        # told (app, "web.1", "crash" | "restart") as the engine reports it (metrics)
        self.lifecycle: list[Callable[[str, str, str], None]] = []
        self.reapable: Callable[[Dyno], bool] = lambda d: True  # the log pump read it all
        self.observers: list[Callable[[list[Dyno]], None]] = []  # see each pass's dynos
        self._rollouts = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rollout")
        self._drainer = ThreadPoolExecutor(max_workers=8, thread_name_prefix="drain")
        self._removals = ThreadPoolExecutor(max_workers=8, thread_name_prefix="remove")
        self.settle_seconds = ROUTER_SETTLE_SECONDS
        self._swept = -SWEEP_SECONDS  # when volumes were last swept (monotonic)
        self._leaving: frozenset[str] = frozenset()  # nodes being drained (see _hand_over)
        self._handing: set[str] = set()  # leaving nodes whose hand-over is under way

    # -- desired state ----------------------------------------------------------------------
    def desired(self) -> Desired:
        want = Desired()
        with self.store.session() as s:
            claims = Claims.load(s, self.settings.domains_need_proof)
            currents = release_service.current_by_app(s)  # two queries for every app
            for app in app_service.all_apps(s, for_reconciler=True):
                desired_for(
                    app,
                    currents.get(app.id),
                    want,
                    self.settings.boot_timeout,
                    self.settings.dyno_read_only,
                    claims,
                )
        return want

    # -- what the API reads ------------------------------------------------------------------
    def dynos(self, app: str) -> list[Dyno]:
        """``app``'s dynos as the user sees them: ``starting`` until the check passes."""
        out = []
        for d in self.runtime.list_dynos():
            if d.app != app:
                continue
            if d.state == DynoState.UP and not d.oneoff and (d.id, d.started_at) not in self._ready:
                d = replace(d, state=DynoState.STARTING)
            out.append(d)
        return sorted(out, key=lambda d: (d.type, d.number))

    def settled(self, app: str, version: int) -> bool:
        """No rollout of ``app`` under way and every formation dyno on ``version`` or later."""
        with self._lock:
            if app in self._busy:
                return False
        return all(
            d.release >= version for d in self.runtime.list_dynos() if d.app == app and not d.oneoff
        )

    def prefetch(self, reference: str, auth: dict[str, str] | None) -> bool:
        """Warm the engines with a prebuilt image being copied in (see Runtime.prefetch)."""
        return self.runtime.prefetch(reference, auth)

    def forget_prefetched(self, reference: str) -> None:
        self.runtime.forget_prefetched(reference)

    # -- one pass ---------------------------------------------------------------------------
    def run_once(self) -> None:
        want = self.desired()
        seen = self.runtime.observe()
        observed = seen.dynos
        removals = [  # in parallel, waited for at the end of the pass (see _remove_app)
            self._removals.submit(self._remove_app, gone, [d.id for d in observed if d.app == gone])
            for gone in seen.apps - want.apps
        ]
        formation = [d for d in observed if not d.oneoff and d.app in want.apps]
        self._check_ready(formation, want)
        unsettled = bool(want.pending or seen.retiring) or not all(map(self._is_ready, formation))
        with self._lock:
            self._crashed &= {d.id for d in observed}  # removed since: no longer in motion
            self._unsettled = unsettled
            self._web_apps = set(want.web_apps)
            self._domains = dict(want.domains)
            self._certs = dict(want.certs)
            self._leaving = seen.leaving
            busy = set(self._busy)
        self._adopt_retiring(want, busy, seen.retiring)
        for app in sorted(want.apps - busy):
            plan = self._plan(app, want, [d for d in formation if d.app == app])
            if plan.needs_rollout and not self._recently_failed(plan):
                with self._lock:
                    self._busy.add(app)
                    if app not in self._backends:  # a fresh server: keep routing what serves
                        self._set_backends(app, plan.keep + list(plan.old.values()))
                self._rollouts.submit(self._rollout_safely, plan, want)
                continue
            self._settle(plan, want)
        for observe in self.observers:
            observe(observed)
        self._publish()
        self._hand_over(seen.leaving)
        self._reap_oneoffs(observed)
        self._sweep_volumes(want)
        wait(removals)

    def _remove_app(self, app: str, dynos: list[str]) -> None:
        """Remove a destroyed app's dynos, network and volumes. Apps are removed in parallel
        and after the other apps' routes are published: each dyno's stop may wait out its
        grace. The pass (so ``apps:destroy``) ends once they are gone."""
        with self._lock:
            self._stopping.update(dynos)  # their exits are no crashes
        log.info("removing resources of deleted app %s", app)
        try:
            self.runtime.remove_app(app)
        except Exception:
            log.exception("removing %s failed (the next pass tries again)", app)

    def _sweep_volumes(self, want: Desired) -> None:
        """Remove the files of destroyed volumes once no dyno uses them (at most every
        :data:`SWEEP_SECONDS`: on a swarm it asks every node's engine)."""
        if time.monotonic() - self._swept < SWEEP_SECONDS:
            return
        self._swept = time.monotonic()
        try:
            for app, name in self.runtime.volumes() - want.volumes:
                if app in want.apps and self.runtime.remove_volume(app, name):
                    log.info("removed volume %s of %s", name, app)
        except MoorageError as exc:  # an engine that is down: the next pass tries again
            log.warning("volumes not swept: %s", exc)

    # -- volumes (for the API) -----------------------------------------------------------------
    def volume_usage(self) -> dict[tuple[str, str], int]:
        return self.runtime.volume_usage()

    def export_volume(self, app: str, name: str, image: str) -> Iterator[bytes]:
        return self.runtime.export_volume(app, name, image)

    def import_volume(self, app: str, name: str, image: str, tar: bytes) -> None:
        self.runtime.import_volume(app, name, image, tar)

    def _adopt_retiring(self, want: Desired, busy: set[str], retiring: list[Dyno]) -> None:
        """Dynos a killed server was replacing (renamed ``.retiring-``) keep serving until
        their app's new dynos are routed, then drain like any replaced dyno."""
        orphans = [d for d in retiring if d.id not in self._stopping]
        for d in orphans:
            if d.app not in want.apps:
                self._stop(d, grace=0)
                continue
            with self._lock:
                routed = self._backends.get(d.app)
                addr = f"{d.ip}:{d.port}" if d.ip and d.port else None
                if routed is None:
                    mine = [o for o in orphans if o.app == d.app and o.type == "web"]
                    self._backends[d.app] = tuple(
                        sorted(f"{o.ip}:{o.port}" for o in mine if o.state == DynoState.UP and o.ip)
                    )
                    continue
            if d.app not in busy and addr not in routed:
                log.info("draining %s, left retiring by an earlier server", d.name)
                self._drain(d)

    def _plan(self, app: str, want: Desired, dynos: list[Dyno]) -> Plan:
        specs = {n: sp for n, sp in want.specs.items() if sp.app == app}
        by_name = {d.name: d for d in dynos}
        # planned only for apps no boot of ours is under way in: a dyno never started is
        # left by a server killed between create and start, and nothing would start it
        boot = [
            sp
            for n, sp in specs.items()
            if by_name.get(n) is None
            or by_name[n].fingerprint != sp.fingerprint()
            or by_name[n].never_started
        ]
        old = {sp.name: by_name[sp.name] for sp in boot if sp.name in by_name}
        extras = [d for n, d in by_name.items() if n not in specs]
        keep = [d for n, d in by_name.items() if n in specs and n not in old]
        ordered = sorted(boot, key=lambda s: s.name)
        return Plan(app, ordered, old, extras, keep, phase=app in want.phases)

    def _recently_failed(self, plan: Plan) -> bool:
        prints = frozenset(sp.fingerprint() for sp in plan.boot)
        failed = self._boot_failed.get(plan.app)
        return failed is not None and failed[0] == prints and time.monotonic() < failed[1]

    def _check_ready(self, dynos: list[Dyno], want: Desired) -> None:
        """Probe dynos that run but are not known ready (new, or restarted after a crash)."""
        for d in dynos:
            key = (d.id, d.started_at)
            if d.state != DynoState.UP or key in self._ready or d.app in self._busy:
                continue
            spec = want.specs.get(d.name)
            if self.runtime.probe(d, spec.check_path if spec else None):
                self._ready.add(key)
                self.emit(d.app, d.label, "State changed from starting to up")

    def _is_ready(self, d: Dyno) -> bool:
        return d.state == DynoState.UP and (d.id, d.started_at) in self._ready

    def _settle(self, plan: Plan, want: Desired) -> None:
        """No boot needed: route the ready dynos, drain extras, finish a pending release."""
        self._set_backends(plan.app, plan.keep)
        if plan.extras:
            self._publish()
            for d in plan.extras:
                self._drain(d)
        version = want.pending.get(plan.app)
        if version is not None and plan.app not in want.phases:
            self._mark(plan.app, version, ReleaseStatus.SUCCEEDED, "")

    def _set_backends(self, app: str, dynos: list[Dyno]) -> None:
        """Route ``app``'s ready web dynos; those on a leaving node only while the app has
        no other (Swarm starts their replacements once the node is handed over)."""
        ready = [d for d in dynos if d.type == "web" and d.ip and self._is_ready(d)]
        with self._lock:
            staying = [d for d in ready if d.node not in self._leaving]
            self._backends[app] = tuple(sorted(f"{d.ip}:{d.port}" for d in staying or ready))

    def _hand_over(self, leaving: frozenset[str]) -> None:
        """Once the table just published sends nothing more to a leaving node than it must,
        and the router's workers have let go of it, let the engine move its dynos."""
        for node in sorted(leaving - self._handing):
            self._handing.add(node)

            def later(node: str = node) -> None:
                time.sleep(self.settle_seconds)
                try:
                    self.runtime.hand_over_node(node)
                    log.info("node %s is out of the router; Swarm moves its dynos", node)
                except MoorageError as exc:
                    log.warning("node %s not handed over (next pass retries): %s", node, exc)
                finally:
                    self._handing.discard(node)

            self._drainer.submit(later)

    def _publish(self) -> None:
        with self._lock:
            routes = [
                Route(
                    app=app,
                    hosts=(self.settings.app_host(app), *self._domains.get(app, ())),
                    backends=self._backends.get(app, ()),
                    certs=self._certs.get(app, ()),
                )
                for app in sorted(self._web_apps)
            ]
            self.router.apply(routes)

    # -- rollouts ---------------------------------------------------------------------------
    def _rollout_safely(self, plan: Plan, want: Desired) -> None:
        try:
            self._rollout(plan, want)
        except Exception as exc:
            log.exception("rollout of %s crashed", plan.app)
            self.last_error = str(exc)
        finally:
            with self._lock:
                self._busy.discard(plan.app)
            self.request(wait=False)

    def _rollout(self, plan: Plan, want: Desired) -> None:
        app, version = plan.app, want.pending.get(plan.app)
        phase = want.phases.get(app)
        if phase is not None and version is not None:
            reason = self._release_phase(app, version, phase)
            if reason:
                self._fail(app, version, reason)
                return
        # a dyno with a volume stops before its replacement starts: one writer of its files
        stopped = {sp.name for sp in plan.boot if sp.volumes and sp.name in plan.old}
        for name, d in plan.old.items():
            if name in stopped:
                self.emit(app, d.label, "Stopping process with SIGTERM (volume)")
                self._stop(d, grace=DRAIN_SECONDS)
            else:
                self.runtime.retire(d)
        results = list(self._rollouts_boot(plan))
        failures = [r for _, r in results if isinstance(r, str)]
        news = [r for _, r in results if isinstance(r, Dyno)]
        if failures:
            for d in news:
                self._stop(d, grace=1)
            for name, d in plan.old.items():
                if name not in stopped:
                    self.runtime.unretire(d)
            prints = frozenset(sp.fingerprint() for sp in plan.boot)
            self._boot_failed[app] = (prints, time.monotonic() + FAILED_BOOT_BACKOFF)
            if version is not None:
                self._fail(app, version, failures[0])
            else:
                self.emit(app, "api", f"Boot failed, old dynos kept: {failures[0]}")
            return
        self._boot_failed.pop(app, None)
        self._set_backends(app, plan.keep + news)
        self._publish()
        for name, d in [*plan.old.items(), *((d.name, d) for d in plan.extras)]:
            if name not in stopped:
                self._drain(d)
        if version is not None:
            self._mark(app, version, ReleaseStatus.SUCCEEDED, "")
            self.emit(app, "api", f"Release v{version} is live")

    def _rollouts_boot(self, plan: Plan) -> list[tuple[DynoSpec, Dyno | str]]:
        """Start every dyno of ``plan`` at once and wait for each one's check."""
        if not plan.boot:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(plan.boot))) as pool:
            return list(pool.map(lambda sp: (sp, self._boot(sp)), plan.boot))

    def _boot(self, spec: DynoSpec) -> Dyno | str:
        process = spec.label
        cmd = shlex.join(spec.command) if spec.command else "the image's CMD"
        self.emit(spec.app, process, f"Starting process with command `{cmd}`")
        try:
            new = self.runtime.start(spec)
            reason, learned = ports.wait_or_find(self.runtime, new, spec)
            if learned is not None:  # it ignores $PORT and listens on one other port
                new, reason = self._reboot_on(spec, new, learned)
        except MoorageError as exc:
            return exc.message
        if reason is not None:
            self._stop(new, grace=1)
            self.emit(spec.app, process, f"Error R10 (Boot timeout or crash) -> {reason}")
            return reason
        if not new.started_at:  # Swarm's start() answers before the task runs: read it again
            new = next((d for d in self.runtime.list_dynos() if d.id == new.id), new)
        self._ready.add((new.id, new.started_at))
        self.emit(spec.app, process, "State changed from starting to up")
        return new

    def _reboot_on(self, spec: DynoSpec, dyno: Dyno, port: int) -> tuple[Dyno, str | None]:
        """Remember ``port`` for the process type and start the dyno again on it."""
        process = spec.label
        ports.remember(self.store, spec.app, spec.type, port)
        self.emit(
            spec.app,
            process,
            f"{process} listens on port {port}, not on $PORT ({spec.port}): {spec.type} uses "
            f"port {port} from now on (set another with `moor ps:port {spec.type} PORT`)",
        )
        self._stop(dyno, grace=1)
        moved = replace(spec, port=port, env={**spec.env, "PORT": str(port)})
        new = self.runtime.start(moved)
        return new, self.runtime.wait_ready(new, moved.boot_timeout, moved.check_path)

    def _release_phase(self, app: str, version: int, phase: Phase) -> str | None:
        spec = OneOffSpec(
            app=app,
            type="release",
            number=version,
            release=version,
            image=phase.image,
            env={**phase.env, "DYNO": f"release.{version}"},
            command=phase.command,
            read_only=self.settings.dyno_read_only,
        )
        self.emit(
            app, "api", f"Release v{version}: running release command `{shlex.join(phase.command)}`"
        )
        try:
            self.runtime.stop(self._oneoff_id(spec.name), grace=1)
            dyno = self.runtime.start_oneoff(spec)
            code = self.runtime.wait_exit(dyno.id, timeout=3600)
        except MoorageError as exc:
            return f"release command could not run: {exc.message}"
        if code != 0:
            return f"release command exited with status {code}"
        self.emit(app, "api", f"Release v{version}: release command succeeded")
        return None

    def _oneoff_id(self, name: str) -> str:
        for d in self.runtime.list_dynos():
            if d.name == name:
                return d.id
        return name

    def _fail(self, app: str, version: int, reason: str) -> None:
        log.warning("release v%d of %s failed: %s", version, app, reason)
        self._mark(app, version, ReleaseStatus.FAILED, reason)
        self.emit(
            app, "api", f"Release v{version} failed, the previous release keeps serving: {reason}"
        )

    def _mark(self, app: str, version: int, status: ReleaseStatus, reason: str) -> None:
        with self.store.session() as s:
            rel = (
                s.query(Release)
                .filter(Release.version == version, Release.app.has(name=app))
                .one_or_none()
            )
            if rel is None or rel.status != ReleaseStatus.PENDING:
                return
            rel.status, rel.status_reason = status, reason
            if status == ReleaseStatus.SUCCEEDED:
                for older in rel.app.releases:
                    if older.version < version and older.status == ReleaseStatus.PENDING:
                        older.status = ReleaseStatus.SUCCEEDED
                        older.status_reason = f"superseded by v{version} before it rolled out"

    # -- stopping ---------------------------------------------------------------------------
    def _stop(self, d: Dyno, grace: float) -> None:
        self._stopping.add(d.id)
        self.runtime.stop(d.id, grace)

    def _drain(self, d: Dyno) -> None:
        """Stop ``d`` once the router's old workers are gone (they may still send it requests)."""
        self._stopping.add(d.id)

        def later() -> None:
            time.sleep(self.settle_seconds)
            self.emit(d.app, d.label, "Stopping all processes with SIGTERM")
            self.runtime.stop(d.id, DRAIN_SECONDS)

        self._drainer.submit(later)

    def _reap_oneoffs(self, observed: list[Dyno]) -> None:
        for d in observed:
            attached = d.type == "run" and d.state == DynoState.STARTING
            if d.oneoff and d.state == DynoState.DOWN and not attached and self.reapable(d):
                self._stop(d, grace=0)
            elif attached and d.age() > ATTACH_SECONDS:
                self.emit(
                    d.app,
                    d.label,
                    f"Error: no client attached within {ATTACH_SECONDS:.0f} s; the one-off dyno "
                    "was removed (run the command again)",
                )
                self._stop(d, grace=0)

    # -- one-offs and ps:stop (the sessions component starts one-offs) ------------------------
    def finish_oneoff(self, dyno: Dyno) -> None:
        """An attached one-off's client left: stop it (on purpose: its exit is no crash)."""
        self._stop(dyno, grace=1)

    def stop_dyno(self, dyno: Dyno) -> None:
        """ps:stop: a formation dyno is replaced by a fresh one; a one-off just ends."""
        self.emit(dyno.app, dyno.label, "Stopping process by request (ps:stop)")
        self._stop(dyno, grace=DRAIN_SECONDS if not dyno.oneoff else 5)
        self.request(wait=False)

    # -- events -----------------------------------------------------------------------------
    def watch(self, stop: threading.Event) -> None:
        """Follow the engine's dyno starts and exits until ``stop`` is set (a thread)."""
        self.runtime.watch(self.on_event, stop)

    def on_event(self, ev: DynoEvent) -> None:
        d = ev.dyno
        if not d.app:  # a resync: look at everything again
            self.request(wait=False)
            return
        process = d.label
        if ev.action == "die":
            code = d.exit_code if d.exit_code is not None else "?"
            self.emit(d.app, process, f"Process exited with status {code}")
            if d.id in self._stopping or d.oneoff:
                self._stopping.discard(d.id)
                self.emit(d.app, process, "State changed from up to down")
            else:
                self._crashed.add(d.id)
                self.emit(d.app, process, "State changed from up to crashed")
                self._tell_lifecycle(d.app, process, "crash")
        elif ev.action == "start" and d.id in self._crashed:
            self._crashed.discard(d.id)
            self.emit(d.app, process, "State changed from crashed to starting")
            self._tell_lifecycle(d.app, process, "restart")
        self.request(wait=False)

    def _tell_lifecycle(self, app: str, process: str, kind: str) -> None:
        for listener in self.lifecycle:
            try:
                listener(app, process, kind)
            except Exception:
                log.exception("lifecycle listener failed")

    # -- loop -------------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 180.0) -> None:
        """Block until no rollout runs (tests and the CLI's synchronous paths)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._busy:
                    return
            time.sleep(0.05)

    @property
    def router_seconds(self) -> float:
        """How long the router's last table change took (``/metrics``)."""
        return self.router.apply_seconds

    def check_router(self) -> None:
        """A pass now if the router died (a pass starts it again): the supervisor asks."""
        if not self.router.running():
            self.request(wait=False)

    def in_motion(self) -> bool:
        """A rollout runs, a dyno is not ready yet, crashed or retiring, or a release is pending."""
        with self._lock:
            return bool(self._busy or self._crashed or self._unsettled)
