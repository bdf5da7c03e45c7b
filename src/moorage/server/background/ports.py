"""The port a web process really listens on, when it ignores ``$PORT``.

An image like the article's Kubernetes Dockerfile runs ``flask run --host=0.0.0.0``: it
listens on 5000 whatever ``$PORT`` says. After :data:`FIRST_LOOK` seconds without a bind of
``$PORT``, the platform reads which TCP ports the dyno listens on (for other hosts, not
loopback only); exactly one other port becomes the process type's port, remembered for this
and later releases (as ``moor ps:port`` would set it), and the dyno is started again on it.
With several or none, the boot timeout's message lists what the process did listen on.
"""

from __future__ import annotations

from moorage.runtime.base import Runtime
from moorage.server.store.db import Store
from moorage.server.store.models import App, Formation
from moorage.spec.dyno import Dyno, DynoSpec

FIRST_LOOK = 10.0
TIMED_OUT = "(boot timeout)"


def wait_or_find(runtime: Runtime, dyno: Dyno, spec: DynoSpec) -> tuple[str | None, int | None]:
    """Wait for ``dyno``'s check: (None, None) when it passed; (None, port) when the process
    listens on one other port than ``spec.port``; (reason, None) when it failed."""
    if spec.type != "web" or spec.check_path or not spec.port:
        return runtime.wait_ready(dyno, spec.boot_timeout, spec.check_path), None
    first = min(FIRST_LOOK, spec.boot_timeout)
    other: list[int] | None = None
    for wait in (first, max(1.0, spec.boot_timeout - first)):  # a first look, then the rest
        reason = runtime.wait_ready(dyno, wait)
        if reason is None or TIMED_OUT not in reason:
            return reason, None
        other = _others(runtime, dyno, spec.port)
        if other is not None and len(other) == 1:
            return None, other[0]
    assert reason is not None
    total = reason.replace(f"within {wait:.0f}s", f"within {spec.boot_timeout:.0f}s")
    return total + _heard(other, spec.port), None


def _others(runtime: Runtime, dyno: Dyno, port: int) -> list[int] | None:
    found = runtime.listening(dyno)
    return None if found is None else [p for p in found if p != port]


def _heard(other: list[int] | None, port: int) -> str:
    if other is None:
        return ""
    if not other:
        return f"; it listened on no TCP port (it must listen on $PORT, {port}, on 0.0.0.0)"
    listed = ", ".join(str(p) for p in other)
    return (
        f"; it listened on {listed} instead of $PORT ({port}): make it use $PORT, or pick one "
        "with `moor ps:port web PORT`"
    )


def remember(store: Store, app: str, ptype: str, port: int) -> None:
    """Keep ``port`` as the process type's port (later releases start on it)."""
    with store.session() as s:
        row = s.query(Formation).join(App).filter(App.name == app, Formation.type == ptype).first()
        if row is not None:
            row.port = port
