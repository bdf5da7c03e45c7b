"""The router contract the reconciler relies on."""

from __future__ import annotations

from typing import Protocol

from moorage.spec.dyno import Route


class Router(Protocol):
    apply_seconds: float
    """How long the last change of the table took (``/metrics``)."""

    def apply(self, routes: list[Route]) -> bool:
        """Serve exactly ``routes`` without dropping a connection; False when nothing changed."""
        ...

    def running(self) -> bool:
        """Whether the router's process is alive (a dead one is started by the next apply)."""
        ...

    def stats(self) -> dict[str, dict[str, float]]:
        """Request counters per app since the router started: ``{"2xx": n, ..., "b<i>": n
        (response times in moorage.server.background.metrics.BUCKETS), "sum": seconds}``."""
        ...
