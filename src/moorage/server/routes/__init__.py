"""Thin HTTP routes: parse, call a service inside one session, serialize."""

from __future__ import annotations

from typing import Any

from moorage.server.platform import Platform
from moorage.server.store.models import User


def converge(platform: Platform, wait: bool = False) -> None:
    """Ask the reconciler for a pass (after the change is committed)."""
    if platform.reconciler is not None:
        platform.reconciler.request(wait=wait)


def announce(platform: Platform, release: dict[str, Any], user: User) -> None:
    """``moorage[api]: Release v7 created by alice@...: Set FOO config vars`` in the app's log."""
    platform.emit(
        release["app"]["name"],
        "api",
        f"Release v{release['version']} created by user {user.email}: {release['description']}",
    )
