"""Metrics: router lines and dyno samples in, minutes in the store, windows and Prometheus out."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import func, select

from moorage.logs.format import LogLine
from moorage.server.metrics import (
    KEEP_MINUTES,
    Exposition,
    Recorder,
    parse_router,
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


def _router(at: float, status: int, service: str) -> LogLine:
    message = (
        f'at=info method=GET path="/" host=a.x request_id=r fwd="1.2.3.4" dyno=10.0.0.2:5000 '
        f"connect=0.000s service={service}s status={status} bytes=10 protocol=http"
    )
    return LogLine(datetime.fromtimestamp(at, UTC), "router", "router", message)


def _recorder(platform: Platform, clock: Clock, *apps: str) -> Recorder:
    with platform.store.session() as s:
        owner = auth.ensure_user(s, "owner@example.test")
        for name in apps:
            s.add(App(name=name, owner_id=owner.id))
    return Recorder(platform.store, clock)


def test_router_lines_become_requests_per_minute_and_percentiles(platform: Platform) -> None:
    clock = Clock()
    rec = _recorder(platform, clock, "shop")
    lines = [_router(T0 + i % 60, 200, "0.020") for i in range(90)]
    lines += [_router(T0 + 5, 500, "0.900"), _router(T0 + 70, 404, "-")]
    lines.append(LogLine(datetime.fromtimestamp(T0, UTC), "app", "web.1", "status=500 no"))
    rec.on_log("shop", lines)
    rec.flush()
    rec.on_log("shop", [_router(T0 + 61, 200, "0.020")])  # a second flush adds, not replaces
    clock.now = T0 + 120
    rec.flush()
    w = window(platform.store, "shop", T0, T0 + 119, step=1)
    assert w.times == [T0, T0 + 60]
    assert w.requests["2xx"] == [90, 1] and w.requests["5xx"] == [1, 0]
    assert w.requests["4xx"] == [0, 1]
    assert w.total_requests == 93
    p50, p99 = w.latency["p50"][0], w.latency["p99"][0]
    assert p50 is not None and 10 < p50 <= 25  # ms, inside the 10-25 ms bucket
    assert p99 is not None and p99 > 500
    day = window(platform.store, "shop", T0 - 15 * 60 * 10, T0 + 119, step=15)
    assert day.requests["2xx"][-1] == 91 / 15 and day.requests["2xx"][0] is None


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


def test_parsing_and_percentiles() -> None:
    assert parse_router("at=info service=0.004s status=302 bytes=1 protocol=http") == (
        "3xx",
        0.004,
    )
    assert parse_router("at=error code=H10 service=-s status=503 bytes=0 protocol=https") == (
        "5xx",
        None,
    )
    assert parse_router("State changed from up to crashed") is None
    assert percentile([0] * 13, 0.5) is None
    assert percentile([0, 10] + [0] * 11, 0.5) == 0.0075
