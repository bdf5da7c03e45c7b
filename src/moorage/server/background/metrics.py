"""App metrics: requests by status class and response times from the counters the router
keeps in nginx (no Python work per request), memory and CPU of each dyno from its cgroup,
crashes and restarts from the reconciler.

:class:`Recorder` counts in memory and, every :data:`SAMPLE_SECONDS`, adds what it counted
to one row per app and minute (``metric_minutes``), so a server restart loses at most those
seconds; rows older than :data:`KEEP_MINUTES` are deleted, so the table holds at most 1,440
rows per app. Response times go into a fixed histogram (:data:`BUCKETS`): p50/p95/p99 of any
window come from adding its minutes' histograms. :func:`window` reads a time range back at
a chosen step (1 minute for the last hour, 15 for the last day). :class:`Exposition` is the
same data for Prometheus: counters since the server started, gauges of the last sample.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import delete, select

from moorage.server.store.db import Store
from moorage.server.store.models import App, MetricMinute
from moorage.spec.dyno import DynoStats

log = logging.getLogger("moorage.metrics")

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CLASSES = ("2xx", "3xx", "4xx", "5xx")
KEEP_MINUTES = 24 * 60
SAMPLE_SECONDS = 10.0


@dataclass
class _Delta:
    """What one app did in one minute since the last flush."""

    requests: Counter[str] = field(default_factory=Counter)
    hist: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    dynos: dict[str, dict[str, float]] = field(default_factory=dict)  # web.1 -> mem, cpu
    crashes: int = 0
    restarts: int = 0

    def counted(self) -> bool:
        """Requests, crashes or restarts (not only dyno samples)."""
        return bool(sum(self.requests.values()) or self.crashes or self.restarts)


def bucket_of(seconds: float) -> int:
    for i, bound in enumerate(BUCKETS):
        if seconds <= bound:
            return i
    return len(BUCKETS)


def percentile(hist: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a :data:`BUCKETS` histogram, linear within a bucket."""
    total = sum(hist)
    if total == 0:
        return None
    rank, seen = q * total, 0
    for i, count in enumerate(hist):
        if count and seen + count >= rank:
            low = BUCKETS[i - 1] if i > 0 else 0.0
            high = BUCKETS[i] if i < len(BUCKETS) else BUCKETS[-1]
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return BUCKETS[-1]


class Recorder:
    """Counts as lines and samples arrive; :meth:`flush` adds the counts to the store."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self._deltas: dict[tuple[str, int], _Delta] = {}
        self._cpu: dict[tuple[str, str], tuple[float, float]] = {}  # cpu seconds, at
        # since this server started, for Prometheus
        self.requests_total: Counter[tuple[str, str]] = Counter()
        self.hist_total: dict[str, list[int]] = {}
        self.seconds_total: dict[str, float] = {}
        self.crashes_total: Counter[str] = Counter()
        self.restarts_total: Counter[str] = Counter()
        self.last_stats: dict[tuple[str, str], tuple[DynoStats, float]] = {}
        self.log_dropped_total: Counter[tuple[str, str]] = Counter()
        self._router_seen: dict[str, dict[str, float]] = {}  # the router's last counters
        self._router_primed = False
        self._pruned = -1  # the minute old rows were last deleted

    def _delta(self, app: str, at: float) -> _Delta:
        return self._deltas.setdefault((app, int(at // 60)), _Delta())

    # -- inputs -----------------------------------------------------------------------------
    def observe_router(self, totals: dict[str, dict[str, float]]) -> None:
        """The request counters the router keeps per app (``{"2xx": n, "b0": n, ...,
        "sum": s}``, see router/lua/moorage_router.lua): what grew since the last reading
        counts now. The first reading is the baseline (those requests were counted by the
        server before); a counter that shrank (nginx restarted) counts from zero."""
        now = self.clock()
        with self._lock:
            primed, self._router_primed = self._router_primed, True
            for app, counters in totals.items():
                before = self._router_seen.get(app, {} if primed else counters)
                self._router_seen[app] = counters
                grew = {k: v - before.get(k, 0.0) for k, v in counters.items()}
                grew = {k: (v if v >= 0 else counters[k]) for k, v in grew.items()}
                if any(grew.values()):
                    self._add_router(app, self._delta(app, now), grew)
            for gone in set(self._router_seen) - set(totals):
                del self._router_seen[gone]

    def _add_router(self, app: str, delta: _Delta, grew: dict[str, float]) -> None:
        for klass in CLASSES:
            n = int(grew.get(klass, 0))
            delta.requests[klass] += n
            self.requests_total[(app, klass)] += n
        hist = self.hist_total.setdefault(app, [0] * (len(BUCKETS) + 1))
        for i in range(len(BUCKETS) + 1):
            n = int(grew.get(f"b{i}", 0))
            delta.hist[i] += n
            hist[i] += n
        self.seconds_total[app] = self.seconds_total.get(app, 0.0) + grew.get("sum", 0.0)

    def log_dropped(self, app: str, consumer: str, count: int) -> None:
        """``count`` log lines of ``app`` dropped for a slow ``consumer`` (a drain, a tail)."""
        with self._lock:
            self.log_dropped_total[(app, consumer)] += count

    def observe_request(self, app: str, klass: str, seconds: float | None, at: float) -> None:
        with self._lock:
            delta = self._delta(app, at)
            delta.requests[klass] += 1
            self.requests_total[(app, klass)] += 1
            if seconds is not None:
                i = bucket_of(seconds)
                delta.hist[i] += 1
                self.hist_total.setdefault(app, [0] * (len(BUCKETS) + 1))[i] += 1
                self.seconds_total[app] = self.seconds_total.get(app, 0.0) + seconds

    def observe_lifecycle(self, app: str, process: str, kind: str) -> None:
        """A reconciler listener: ``crash`` or ``restart`` of a dyno."""
        with self._lock:
            delta = self._delta(app, self.clock())
            if kind == "crash":
                delta.crashes += 1
                self.crashes_total[app] += 1
            elif kind == "restart":
                delta.restarts += 1
                self.restarts_total[app] += 1

    def observe_stats(self, samples: Iterable[DynoStats]) -> None:
        now = self.clock()
        with self._lock:
            seen = set()
            for s in samples:
                key = (s.app, s.process)
                seen.add(key)
                before = self._cpu.get(key)
                self._cpu[key] = (s.cpu_seconds, now)
                cpu = 0.0
                if before is not None and now > before[1] and s.cpu_seconds >= before[0]:
                    cpu = 100.0 * (s.cpu_seconds - before[0]) / (now - before[1])
                self.last_stats[key] = (s, cpu)
                self._delta(s.app, now).dynos[s.process] = {
                    "mem": float(s.memory_bytes),
                    "cpu": round(cpu, 2),
                }
            for gone in set(self.last_stats) - seen:
                del self.last_stats[gone]
                self._cpu.pop(gone, None)

    def forget(self, app: str) -> None:
        """Drop every count of ``app`` (destroyed, or its name taken anew): a new app of the
        same name, maybe another tenant's, starts with none."""
        with self._lock:
            self._deltas = {k: v for k, v in self._deltas.items() if k[0] != app}
            for key in [k for k in self.requests_total if k[0] == app]:
                del self.requests_total[key]
            self.hist_total.pop(app, None)
            self.seconds_total.pop(app, None)
            self.crashes_total.pop(app, None)
            self.restarts_total.pop(app, None)
        with self.store.session() as s:
            s.execute(delete(MetricMinute).where(MetricMinute.app == app))

    # -- storage ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Add the counts since the last flush to their minutes; forget old minutes.

        A minute that only holds dyno samples is written once it is over (its row keeps the
        last sample anyway), so a thousand idle apps cost a thousand row writes a minute,
        not every few seconds; counts are written at every flush."""
        now_minute = int(self.clock() // 60)
        with self._lock:
            due = {
                key: delta
                for key, delta in self._deltas.items()
                if key[1] < now_minute or delta.counted()
            }
            for key in due:
                del self._deltas[key]
        with self.store.session() as s:
            if due:
                minutes = {minute for _, minute in due}
                rows = {
                    (row.app, row.minute): row
                    for row in s.scalars(
                        select(MetricMinute).where(MetricMinute.minute.in_(minutes))
                    )
                }
                for (app, minute), delta in sorted(due.items()):
                    row = rows.get((app, minute))
                    if row is None:
                        row = MetricMinute(app=app, minute=minute, data={})
                        s.add(row)
                    row.data = _merge(row.data, delta)
            if now_minute != self._pruned:
                self._pruned = now_minute
                old = MetricMinute.minute < now_minute - KEEP_MINUTES
                s.execute(delete(MetricMinute).where(old))
                s.execute(delete(MetricMinute).where(MetricMinute.app.not_in(select(App.name))))

    def loop(
        self,
        stop: threading.Event,
        sample: Callable[[], list[DynoStats]],
        router: Callable[[], dict[str, dict[str, float]]] = dict,
    ) -> None:
        self.observe_router(router())  # the baseline
        while not stop.wait(SAMPLE_SECONDS):
            try:
                self.observe_router(router())
                self.observe_stats(sample())
                self.flush()
            except Exception:
                log.exception("metrics sample failed")


def _merge(data: dict[str, Any], delta: _Delta) -> dict[str, Any]:
    requests = Counter(data.get("requests", {}))
    requests.update(delta.requests)
    old_hist = data.get("hist") or [0] * len(delta.hist)
    dynos = dict(data.get("dynos", {}))
    dynos.update(delta.dynos)
    return {
        "requests": dict(requests),
        "hist": [a + b for a, b in zip(old_hist, delta.hist, strict=True)],
        "dynos": dynos,
        "crashes": int(data.get("crashes", 0)) + delta.crashes,
        "restarts": int(data.get("restarts", 0)) + delta.restarts,
    }


@dataclass
class Window:
    """Metrics of one app at ``step`` minutes from ``start`` (Unix times of each point)."""

    times: list[float]
    requests: dict[str, list[float | None]]  # status class -> requests per minute
    latency: dict[str, list[float | None]]  # p50 / p95 / p99 -> milliseconds
    memory: dict[str, list[float | None]]  # web.1 -> MiB
    cpu: dict[str, list[float | None]]  # web.1 -> percent of one core
    crashes: list[float | None]
    restarts: list[float | None]

    @property
    def total_requests(self) -> int:
        return int(sum(v or 0 for series in self.requests.values() for v in series))


def window(store: Store, app: str, start: float, end: float, step: int) -> Window:
    """``app``'s metrics between ``start`` and ``end`` in buckets of ``step`` minutes."""
    first, last = int(start // 60), int(end // 60)
    count = max(1, (last - first) // step + 1)
    with store.session() as s:
        rows = s.scalars(
            select(MetricMinute).where(
                MetricMinute.app == app,
                MetricMinute.minute >= first,
                MetricMinute.minute <= last,
            )
        ).all()
        data = [(r.minute, dict(r.data)) for r in rows]
    buckets: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    for minute, d in data:
        buckets[min(count - 1, (minute - first) // step)].append(d)
    out = Window([(first + i * step) * 60.0 for i in range(count)], {}, {}, {}, {}, [], [])
    dyno_names = sorted({p for _, d in data for p in d.get("dynos", {})})
    for i, group in enumerate(buckets):
        _fill(out, i, group, step, dyno_names)
    return out


def _fill(out: Window, i: int, group: list[dict[str, Any]], step: int, dynos: list[str]) -> None:
    for klass in CLASSES:
        total = sum(d.get("requests", {}).get(klass, 0) for d in group)
        out.requests.setdefault(klass, []).append(total / step if group else None)
    hist = [sum(col) for col in zip(*(d["hist"] for d in group if d.get("hist")), strict=True)]
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        value = percentile(hist, q) if hist else None
        out.latency.setdefault(name, []).append(None if value is None else value * 1000)
    for process in dynos:
        samples = [d["dynos"][process] for d in group if process in d.get("dynos", {})]
        mem = max((x["mem"] for x in samples), default=None)
        cpu = [x["cpu"] for x in samples]
        out.memory.setdefault(process, []).append(None if mem is None else mem / 2**20)
        out.cpu.setdefault(process, []).append(sum(cpu) / len(cpu) if cpu else None)
    out.crashes.append(sum(d.get("crashes", 0) for d in group) if group else None)
    out.restarts.append(sum(d.get("restarts", 0) for d in group) if group else None)


class Exposition:
    """A Prometheus collector over a :class:`Recorder`, limited to ``apps``."""

    def __init__(
        self,
        recorder: Recorder,
        apps: set[str],
        version: str,
        timings: dict[str, float] | None = None,
    ) -> None:
        self.recorder = recorder
        self.apps = apps
        self.version = version
        self.timings = timings or {}  # the control plane's: reconcile pass, router update

    def collect(self) -> Iterator[Metric]:
        r, apps = self.recorder, self.apps
        info = GaugeMetricFamily("moorage_build_info", "Moorage version", labels=["version"])
        info.add_metric([self.version], 1)
        yield info
        yield GaugeMetricFamily("moorage_apps", "Apps visible to this token", value=len(apps))
        for name, (help_text, value) in sorted(self._timings().items()):
            yield GaugeMetricFamily(name, help_text, value=value)
        requests = CounterMetricFamily(
            "moorage_router_requests", "Requests through the router", labels=["app", "status"]
        )
        for (app, klass), n in sorted(r.requests_total.items()):
            if app in apps:
                requests.add_metric([app, klass], n)
        yield requests
        latency = HistogramMetricFamily(
            "moorage_router_response_seconds", "Response time through the router", labels=["app"]
        )
        for app, hist in sorted(r.hist_total.items()):
            if app in apps:
                cumulative, running = [], 0
                for bound, count in zip([*map(str, BUCKETS), "+Inf"], hist, strict=True):
                    running += count
                    cumulative.append((bound, running))
                latency.add_metric([app], cumulative, r.seconds_total.get(app, 0.0))
        yield latency
        dropped = CounterMetricFamily(
            "moorage_log_lines_dropped",
            "Log lines dropped for a consumer that could not keep up (Error L10)",
            labels=["app", "consumer"],
        )
        for (app, consumer), n in sorted(r.log_dropped_total.items()):
            if app in apps:
                dropped.add_metric([app, consumer], n)
        yield dropped
        yield from self._dynos(apps)

    def _timings(self) -> dict[str, tuple[str, float]]:
        helps = {
            "reconcile_pass": "How long the reconciler's last pass took",
            "router_update": "How long the last change of the routing table took",
        }
        return {
            f"moorage_{key}_seconds": (helps.get(key, key), value)
            for key, value in self.timings.items()
        }

    def _dynos(self, apps: set[str]) -> Iterator[Metric]:
        r = self.recorder
        memory = GaugeMetricFamily(
            "moorage_dyno_memory_bytes", "Dyno memory use", labels=["app", "dyno"]
        )
        limit = GaugeMetricFamily(
            "moorage_dyno_memory_limit_bytes", "Dyno memory limit", labels=["app", "dyno"]
        )
        cpu = CounterMetricFamily(
            "moorage_dyno_cpu_seconds", "Dyno CPU time", labels=["app", "dyno"]
        )
        for (app, process), (stats, _) in sorted(r.last_stats.items()):
            if app in apps:
                memory.add_metric([app, process], stats.memory_bytes)
                limit.add_metric([app, process], stats.memory_limit)
                cpu.add_metric([app, process], stats.cpu_seconds)
        crashes = CounterMetricFamily("moorage_dyno_crashes", "Dyno crashes", labels=["app"])
        restarts = CounterMetricFamily(
            "moorage_dyno_restarts", "Dyno restarts after a crash", labels=["app"]
        )
        for app in sorted(apps):
            crashes.add_metric([app], r.crashes_total[app])
            restarts.add_metric([app], r.restarts_total[app])
        yield from (memory, limit, cpu, crashes, restarts)
