"""Docker Engine container events in Moorage's terms (the docker runtime's :meth:`watch`)."""

from __future__ import annotations

import threading
import time
from typing import Any

from moorage.spec.dyno import Dyno, DynoEvent
from moorage.spec.status import DynoState

LABEL = "moorage"


def close_when(stop: threading.Event, stream: Any) -> None:
    """Close the event ``stream`` once ``stop`` is set (it blocks its reader until then)."""
    stop.wait()
    stream.close()


def to_dyno_event(ev: dict[str, Any]) -> DynoEvent:
    """A container ``start``/``die`` event as the dyno it concerns (labels give its identity)."""
    attrs: dict[str, str] = ev.get("Actor", {}).get("Attributes", {})
    exit_code = attrs.get("exitCode")
    dyno = Dyno(
        id=str(ev.get("id", "")),
        app=attrs.get(f"{LABEL}.app", ""),
        type=attrs.get(f"{LABEL}.type", ""),
        number=int(attrs.get(f"{LABEL}.number", "0") or 0),
        release=int(attrs.get(f"{LABEL}.release", "0") or 0),
        fingerprint=attrs.get(f"{LABEL}.fingerprint", ""),
        state=DynoState.CRASHED if ev.get("Action") == "die" else DynoState.STARTING,
        ip=None,
        port=None,
        created_at="",
        exit_code=int(exit_code) if exit_code is not None else None,
        oneoff=attrs.get(f"{LABEL}.oneoff") == "1",
    )
    return DynoEvent(dyno=dyno, action=str(ev.get("Action", "")), time=event_time(ev))


def event_time(ev: dict[str, Any]) -> float:
    """When the engine saw the event, in seconds since the epoch."""
    nanos = ev.get("timeNano")
    return int(nanos) / 1e9 if nanos else float(ev.get("time", time.time()))
