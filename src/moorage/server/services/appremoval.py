"""Removing an app with everything it made: its add-ons deprovisioned (and their backups),
its images, then its dynos, network and routes (the reconciler's pass)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moorage.server.services import addons, apps
from moorage.server.services.events import converge
from moorage.server.store.models import App, User

if TYPE_CHECKING:
    from moorage.server.platform import Platform


def remove(platform: Platform, user: User, app_id: str) -> None:
    """Remove the app ``app_id`` (the caller has authorized ``user`` for it)."""
    with platform.store.session() as s:
        app = s.get(App, app_id)
        if app is None:
            return
        name = app.name
        owned_addons = [a.id for a in app.addons]
        addons.destroy_all(s, app, user, platform.providers)
        apps.delete(s, app)
    platform.remove_backups(owned_addons)
    platform.registry.delete_app(name)
    converge(platform, wait=True)
    platform.forget_app(name, destroyed=True)  # its dynos are gone: late lines dropped
