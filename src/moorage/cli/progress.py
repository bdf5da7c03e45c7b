"""Waiting for a release: status polling plus the release phase's output as it runs."""

from __future__ import annotations

import threading
import time

from moorage.cli.base import err, out
from moorage.client.api import Client
from moorage.client.logs import session, stream_lines
from moorage.client.releases import release
from moorage.errors import RuntimeFailure
from moorage.schemas.releases import Release
from moorage.spec.status import ReleaseStatus


def _stream_phase(c: Client, app: str, version: int, stop: threading.Event) -> None:
    try:
        logs = session(c, app, lines=0, tail=True, dyno=None, source=None)
        wanted = (f"[release.{version}]:", f"Release v{version}")
        for line in stream_lines(logs.logplex_url):
            if stop.is_set():
                return
            if any(w in line for w in wanted):
                out.print(line, markup=False)
    except Exception:  # progress output is best effort; the status poll decides
        return


def wait_release(c: Client, app: str, version: int, timeout: float = 600.0) -> Release:
    """Block until release ``version`` is live or failed; raise when it failed."""
    stop = threading.Event()
    threading.Thread(target=_stream_phase, args=(c, app, version, stop), daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        with err.status(f"Releasing v{version}..."):
            while time.monotonic() < deadline:
                rel = release(c, app, str(version))
                if rel.status != ReleaseStatus.PENDING:
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
    if rel.status == ReleaseStatus.FAILED:
        raise RuntimeFailure(
            f"Release v{version} failed: {rel.status_reason}. The previous release keeps serving."
        )
    return rel
