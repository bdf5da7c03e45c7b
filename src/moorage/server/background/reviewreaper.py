"""Removes review apps whose pipeline's autodestroy time has passed since their last deploy
(``reviewapps:enable --autodestroy 5d``), checked once a minute."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from moorage.server.services import appremoval, reviewapps
from moorage.server.store.models import User

if TYPE_CHECKING:
    from moorage.server.platform import Platform

log = logging.getLogger("moorage.server")
INTERVAL = 60.0


def reap_once(platform: Platform, now: datetime | None = None) -> list[str]:
    """Remove the expired review apps; their names."""
    with platform.store.session() as s:
        due = [(r.app_id, r.app.name, r.creator_id) for r in reviewapps.expired(s, now)]
        creators = {c: s.get(User, c) for _, _, c in due}
    gone = []
    for app_id, name, creator in due:
        user = creators.get(creator)
        if user is None:
            continue
        appremoval.remove(platform, user, app_id)
        log.info("review app %s removed: no deploy within its pipeline's autodestroy", name)
        gone.append(name)
    return gone


def loop_for(platform: Platform) -> Callable[[threading.Event], None]:
    def review_reaper(stop: threading.Event) -> None:
        while not stop.wait(INTERVAL):
            try:
                reap_once(platform)
            except Exception:
                log.exception("removing expired review apps failed (next minute tries again)")

    return review_reaper
