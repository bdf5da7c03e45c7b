"""What each dashboard page shows, read from the store and the reconciler (no HTML here)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from moorage.server.background import metrics
from moorage.server.platform import Platform
from moorage.server.services import apps, releases
from moorage.server.store.models import App
from moorage.spec.dyno import Dyno
from moorage.spec.status import DynoState, ReleaseStatus
from moorage.web.charts import Series, line_chart


def ago(when: datetime | str | None) -> str:
    """``3 minutes ago`` for a store time (naive UTC) or an RFC 3339 string."""
    if not when:
        return ""
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = max(0, int((datetime.now(UTC) - when).total_seconds()))
    if seconds < 60:
        return "just now" if seconds < 5 else f"{seconds} seconds ago"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return ""


def _dynos(platform: Platform, app: str) -> list[Dyno]:
    return platform.reconciler.dynos(app) if platform.reconciler else []


def _state(dynos: list[Dyno], wanted: int) -> str:
    states = Counter(d.state for d in dynos if not d.oneoff)
    if states[DynoState.CRASHED]:
        return DynoState.CRASHED
    if wanted == 0:
        return "idle"
    if states[DynoState.UP] >= wanted:
        return DynoState.UP
    return DynoState.STARTING


def app_rows(session: Session, platform: Platform, user: Any) -> list[dict[str, Any]]:
    rows = []
    for app in apps.list_for(session, user):
        dynos = _dynos(platform, app.name)
        wanted = sum(f.quantity for f in app.formations)
        latest = releases.latest(session, app)
        counts = [
            f"{f.type} {sum(1 for d in dynos if d.type == f.type and d.state == 'up')}/{f.quantity}"
            for f in app.formations
        ]
        rows.append(
            {
                "name": app.name,
                "state": _state(dynos, wanted),
                "dynos": ", ".join(counts) or "none",
                "release": (
                    f"v{latest.version} · {latest.description} · {ago(latest.created_at)}"
                    if latest
                    else "not deployed"
                ),
                "web_url": platform.settings.web_url(app.name),
            }
        )
    return rows


def overview(session: Session, platform: Platform, app: App) -> dict[str, Any]:
    dynos = [d for d in _dynos(platform, app.name)]
    return {
        "formation": [
            {
                "type": f.type,
                "quantity": f.quantity,
                "size": f.size,
                "command": f.command or "",
                "ports": ", ".join(f"{p} → {t}" for p, t in (f.ports or [])),
                "volumes": ", ".join(
                    f"{v.name} at {v.path}" for v in app.volumes if v.process_type == f.type
                ),
            }
            for f in app.formations
        ],
        "private": app.internal_routing,
        "dynos": [
            {
                "name": d.label,
                "state": d.state,
                "release": d.release,
                "since": ago(d.started_at or d.created_at),
            }
            for d in dynos
        ],
        "addons": [
            {
                "name": a.name,
                "plan": a.plan,
                "backups": [
                    {
                        "id": f"b{b.num:03d}",
                        "status": b.status,
                        "verified": b.verified,
                        "size": b.size,
                        "when": ago(b.started_at),
                    }
                    for b in sorted(a.backups, key=lambda b: b.num, reverse=True)[:5]
                ],
            }
            for a in app.addons
        ],
        "config_keys": sorted(app.config),
        "domains": [platform.settings.app_host(app.name)] + [d.hostname for d in app.domains],
        "web_url": None if app.internal_routing else platform.settings.web_url(app.name),
    }


def activity(session: Session, app: App) -> list[dict[str, Any]]:
    current = releases.current(session, app)
    rows = []
    for rel in reversed(releases.list_for(session, app)):
        rows.append(
            {
                "version": rel.version,
                "description": rel.description,
                "user": rel.user.email,
                "when": ago(rel.created_at),
                "at": f"{rel.created_at:%Y-%m-%d %H:%M:%S} UTC",
                "status": rel.status,
                "reason": rel.status_reason,
                "current": current is not None and rel.version == current.version,
                "can_rollback": bool(rel.images)
                and rel.status != ReleaseStatus.FAILED
                and (current is None or rel.version != current.version),
            }
        )
    return rows


@dataclass(frozen=True)
class Range:
    name: str
    seconds: int
    step: int  # minutes per point


RANGES = {"1h": Range("1h", 3600, 1), "24h": Range("24h", 86400, 15)}


def charts(platform: Platform, app: str, span: Range) -> dict[str, Any]:
    end = time.time()
    start = end - span.seconds
    w = metrics.window(platform.store, app, start, end, span.step)

    def series(values: dict[str, list[float | None]]) -> list[Series]:
        return [Series(name, list(zip(w.times, v, strict=True))) for name, v in values.items()]

    def chart(
        title: str, values: dict[str, list[float | None]], unit: str, **kw: Any
    ) -> tuple[str, str]:
        return title, line_chart(title, series(values), unit=unit, start=start, end=end, **kw)

    return {
        "total": w.total_requests,
        "charts": [
            chart("Requests per minute by status", w.requests, "req/min", stacked=True),
            chart("Response time", w.latency, "ms"),
            chart("Memory per dyno", w.memory, "MiB"),
            chart("CPU per dyno", w.cpu, "%"),
            chart("Crashes and restarts", {"crashes": w.crashes, "restarts": w.restarts}, ""),
        ],
    }
