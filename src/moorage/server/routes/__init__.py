"""Thin HTTP routes: parse, call a service inside one session, serialize."""

from __future__ import annotations

from moorage.server.platform import Platform


def converge(platform: Platform, wait: bool = False) -> None:
    """Ask the reconciler for a pass (after the change is committed)."""
    if platform.reconciler is not None:
        platform.reconciler.request(wait=wait)
