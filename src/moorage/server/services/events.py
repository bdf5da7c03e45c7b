"""What happens after a change is committed: the one place that announces a release in the
app's log, writes the platform's other lines to it, and wakes the reconciler.

Routes and the dashboard call these once their session has committed, never before: a pass
that ran early would converge to the state before the change."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moorage.schemas.releases import Release
    from moorage.server.platform import Platform
    from moorage.server.store.models import User


def converge(platform: Platform, wait: bool = False) -> None:
    """Ask the reconciler for a pass (after the change is committed)."""
    if platform.reconciler is not None:
        platform.reconciler.request(wait=wait)


def announce(platform: Platform, release: Release, user: User) -> None:
    """``moorage[api]: Release v7 created by alice@...: Set FOO config vars`` in the app's log."""
    platform.emit(
        release.app.name,
        "api",
        f"Release v{release.version} created by user {user.email}: {release.description}",
    )


def emit(platform: Platform, app: str, message: str) -> None:
    """A ``moorage[api]`` line in the app's log (what a user did, said once it is done)."""
    platform.emit(app, "api", message)
