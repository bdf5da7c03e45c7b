"""Waiting for a release: status polling plus the release phase's output as it runs."""

from __future__ import annotations

import threading
import time
from typing import Any

from moorage.cli.base import err, out
from moorage.client.api import Client
from moorage.errors import RuntimeFailure


def _stream_phase(c: Client, app: str, version: int, stop: threading.Event) -> None:
    try:
        session = c.log_session(app, lines=0, tail=True, dyno=None, source=None)
        wanted = (f"[release.{version}]:", f"Release v{version}")
        for line in c.stream_lines(session["logplex_url"]):
            if stop.is_set():
                return
            if any(w in line for w in wanted):
                out.print(line, markup=False)
    except Exception:  # progress output is best effort; the status poll decides
        return


def wait_release(c: Client, app: str, version: int, timeout: float = 600.0) -> dict[str, Any]:
    """Block until release ``version`` is live or failed; raise when it failed."""
    stop = threading.Event()
    threading.Thread(target=_stream_phase, args=(c, app, version, stop), daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        with err.status(f"Releasing v{version}..."):
            while time.monotonic() < deadline:
                rel = c.release(app, str(version))
                if rel["status"] != "pending":
                    break
                time.sleep(0.5)
            else:
                raise RuntimeFailure(
                    f"Release v{version} is still pending after {timeout:.0f}s; "
                    f"see `moor releases -a {app}` and `moor logs -a {app}`."
                )
    finally:
        time.sleep(0.3)  # let the last release-phase lines through
        stop.set()
    if rel["status"] == "failed":
        raise RuntimeFailure(
            f"Release v{version} failed: {rel.get('status_reason')}. "
            "The previous release keeps serving."
        )
    return rel
