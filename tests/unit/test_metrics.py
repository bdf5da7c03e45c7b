"""Metrics: router counters and dyno samples in; minutes in the store; windows, Prometheus out."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import func, select

from moorage.server.background.metrics import (
    KEEP_MINUTES,
    Exposition,
    Recorder,
    percentile,
    window,
)
from moorage.server.platform import Platform
from moorage.server.services import auth
from moorage.server.store.models import App, MetricMinute
from moorage.spec.dyno import DynoStats

T0 = 1_790_000_000.0 - 1_790_000_000.0 % 60  # a minute boundary


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _recorder(platform: Platform, clock: Clock, *apps: str) -> Recorder:
    with platform.store.session() as s:
        owner = auth.ensure_user(s, "owner@example.test")
        for name in apps:
            s.add(App(name=name, owner_id=owner.id))
    return Recorder(platform.store, clock)


def test_router_counters_become_requests_per_minute_and_percentiles(platform: Platform) -> None:
    clock = Clock()
    rec = _recorder(platform, clock, "shop")
    rec.observe_router({"shop": {"2xx": 500.0, "b2": 500.0, "sum": 10.0}})  # the baseline
    # 90 requests of 20 ms, a 500 of 0.9 s, an H10 (no response time), a 404
    counters = {"2xx": 590.0, "5xx": 2.0, "4xx": 1.0, "b2": 590.0, "b7": 1.0}
    clock.now = T0 + 30
    rec.observe_router({"shop": {**counters, "sum": 10.0 + 90 * 0.02 + 0.9}})
    rec.flush()
    clock.now = T0 + 61
    counters["2xx"] += 1
    counters["b2"] += 1
    rec.observe_router({"shop": {**counters, "sum": 12.72}})  # a second flush adds
    clock.now = T0 + 120
    rec.flush()
    w = window(platform.store, "shop", T0, T0 + 119, step=1)
    assert w.times == [T0, T0 + 60]
    assert w.requests["2xx"] == [90, 1] and w.requests["5xx"] == [2, 0]
    assert w.requests["4xx"] == [1, 0]
    assert w.total_requests == 94
    p50, p99 = w.latency["p50"][0], w.latency["p99"][0]
    assert p50 is not None and 10 < p50 <= 25  # ms, inside the 10-25 ms bucket
    assert p99 is not None and p99 > 500
    day = window(platform.store, "shop", T0 - 15 * 60 * 10, T0 + 119, step=15)
    assert day.requests["2xx"][-1] == 91 / 15 and day.requests["2xx"][0] is None


def test_router_counters_that_shrink_count_from_zero(platform: Platform) -> None:
    clock = Clock()
    rec = _recorder(platform, clock, "shop")
    rec.observe_router({"shop": {"2xx": 50.0}})
    rec.observe_router({"shop": {"2xx": 60.0}, "new": {"2xx": 3.0}})  # a new app: from zero
    rec.observe_router({"shop": {"2xx": 4.0}})  # nginx restarted: its counters began again
    assert rec.requests_total[("shop", "2xx")] == 14
    assert rec.requests_total[("new", "2xx")] == 3


def test_a_minute_of_samples_only_is_written_once_it_is_over(platform: Platform) -> None:
    clock = Clock()
    rec = _recorder(platform, clock, "shop")
    rec.observe_stats([DynoStats("shop", "web.1", 100 << 20, 512 << 20, 10.0)])
    rec.flush()
    with platform.store.session() as s:
        assert s.scalar(select(func.count()).select_from(MetricMinute)) == 0
    clock.now = T0 + 60
    rec.flush()
    w = window(platform.store, "shop", T0, T0 + 59, step=1)
    assert w.memory == {"web.1": [100.0]}


def test_dyno_samples_give_memory_and_cpu_percent(platform: Platform) -> None:
    clock = Clock()
    rec = _recorder(platform, clock, "shop")
    rec.observe_stats([DynoStats("shop", "web.1", 100 << 20, 512 << 20, 10.0)])
    clock.now += 10
    rec.observe_stats([DynoStats("shop", "web.1", 120 << 20, 512 << 20, 12.5)])
    rec.observe_lifecycle("shop", "web.1", "crash")
    rec.observe_lifecycle("shop", "web.1", "restart")
    rec.flush()
    w = window(platform.store, "shop", T0, T0 + 59, step=1)
    assert w.memory == {"web.1": [120.0]} and w.cpu == {"web.1": [25.0]}
    assert w.crashes == [1] and w.restarts == [1]


def test_old_minutes_and_deleted_apps_are_dropped(platform: Platform) -> None:
    clock = Clock()
    rec = _recorder(platform, clock, "shop")
    rec.observe_request("shop", "2xx", 0.01, T0)
    rec.observe_request("gone", "2xx", 0.01, T0)
    rec.flush()
    clock.now = T0 + (KEEP_MINUTES + 2) * 60
    rec.observe_request("shop", "2xx", 0.01, clock.now)
    rec.flush()
    with platform.store.session() as s:
        rows = s.execute(select(MetricMinute.app, func.count()).group_by(MetricMinute.app)).all()
    assert rows == [("shop", 1)]


def test_prometheus_exposition_shows_only_the_given_apps(platform: Platform) -> None:
    rec = _recorder(platform, Clock(), "shop", "other")
    rec.observe_request("shop", "2xx", 0.02, T0)
    rec.observe_request("shop", "5xx", 2.0, T0)
    rec.observe_request("other", "2xx", 0.02, T0)
    rec.observe_stats([DynoStats("shop", "web.1", 64 << 20, 512 << 20, 3.0)])
    registry = CollectorRegistry()
    registry.register(Exposition(rec, {"shop"}, "0.1.0"))
    text = generate_latest(registry).decode()
    assert 'moorage_router_requests_total{app="shop",status="2xx"} 1.0' in text
    assert 'moorage_router_response_seconds_bucket{app="shop",le="2.5"} 2.0' in text
    assert 'moorage_dyno_memory_bytes{app="shop",dyno="web.1"} 6.7108864e+07' in text
    assert "other" not in text


def test_percentiles() -> None:
    assert percentile([0] * 13, 0.5) is None
    assert percentile([0, 10] + [0] * 11, 0.5) == 0.0075
