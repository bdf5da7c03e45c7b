"""Plans of the ``postgresql`` add-on (Heroku's names), and what each one gets.

``mini`` is a database in the platform's shared cluster. Every other plan is a PostgreSQL
cluster of its own per add-on: its own port, data dir and memory settings, its WAL archived
by pgBackRest so that it can be rolled back, forked and followed.
"""

from __future__ import annotations

from dataclasses import dataclass

from moorage.errors import InvalidParams

SERVICE_NAMES = ("postgresql", "heroku-postgresql", "postgres")


@dataclass(frozen=True)
class PgPlan:
    name: str
    dedicated: bool
    shared_buffers_mb: int = 0
    max_connections: int = 0
    window_days: int = 0
    """How far back ``--rollback`` reaches (pgBackRest keeps the full backups it needs)."""

    @property
    def full(self) -> str:
        return f"postgresql:{self.name}"

    def settings(self) -> dict[str, str]:
        """postgresql.conf settings sized by the plan (dedicated plans only)."""
        mb = self.shared_buffers_mb
        return {
            "shared_buffers": f"{mb}MB",
            "effective_cache_size": f"{mb * 3}MB",
            "maintenance_work_mem": f"{max(16, mb // 4)}MB",
            "work_mem": f"{max(4, mb // 32)}MB",
            "max_connections": str(self.max_connections),
        }


MINI = PgPlan("mini", dedicated=False)
PLANS = {
    p.name: p
    for p in (
        MINI,
        PgPlan("standard-0", True, shared_buffers_mb=128, max_connections=120, window_days=4),
        PgPlan("standard-2", True, shared_buffers_mb=512, max_connections=400, window_days=4),
        PgPlan("standard-3", True, shared_buffers_mb=1024, max_connections=500, window_days=4),
        PgPlan("standard-4", True, shared_buffers_mb=2048, max_connections=500, window_days=4),
    )
}
ALIASES = {"basic": "mini", "hobby-dev": "mini", "essential-0": "mini"}
"""Older names: ``basic`` is what add-ons made before plans existed recorded."""


def pg_plan(plan: str) -> PgPlan:
    """``postgresql``, ``postgresql:standard-0`` or ``heroku-postgresql:standard-0``."""
    service, _, name = plan.partition(":")
    if service not in SERVICE_NAMES:
        raise InvalidParams(f"{plan!r} is not a postgresql plan.")
    name = ALIASES.get(name or "mini", name or "mini")
    if name not in PLANS:
        raise InvalidParams(
            f"Unknown postgresql plan {name!r}. Plans: {', '.join(PLANS)} "
            "(mini: a database in the shared cluster; standard-*: a cluster of its own with "
            "point-in-time rollback, forks and followers)."
        )
    return PLANS[name]
