"""Why a push failed, read from the registry's own log.

Docker Distribution answers a layer upload that hits ``ENOSPC`` with a bare ``500`` (the
reason is only in the response body, which Docker does not show, and in its log). Docker
then retries and gives up with "received unexpected HTTP status: 500". The platform reads
the registry's log incrementally, remembers each repository's last out-of-space failure,
and tells the pushing client (and the app's log stream) why the push failed, whatever the
timing of Docker's retries.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DISK_FULL = "no space left on device"
_REPO = re.compile(r'vars\.name="?([a-z0-9][a-z0-9._/-]*)"?')
_TIME = re.compile(r'^time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z"')
_URI = re.compile(r'http\.request\.uri="/v2/([a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*)/blobs/')
MAX_READ = 4 << 20  # bytes read per scan: a log that grew more is read from its newest part


@dataclass(frozen=True)
class PushFailure:
    """A repository's upload that failed because the registry's disk was full."""

    repository: str  # "<app>/<process type>"
    at: float  # when the registry logged it (epoch seconds)

    @property
    def app(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def process_type(self) -> str:
        return self.repository.split("/", 1)[1]


def _logged_at(line: str, default: float) -> float:
    match = _TIME.match(line)
    if not match:
        return default
    fraction = float(match.group(2) or 0)
    when = dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=dt.UTC)
    return when.timestamp() + fraction


def disk_full_failures(lines: list[str], now: float) -> list[PushFailure]:
    """The out-of-space failures these log lines report, the newest per repository (pure);
    ``now`` dates lines without a time."""
    found: dict[str, PushFailure] = {}
    for line in lines:
        if DISK_FULL not in line:
            continue
        match = _REPO.search(line) or _URI.search(line)
        if match and match.group(1).count("/") == 1:
            found[match.group(1)] = PushFailure(match.group(1), _logged_at(line, now))
    return list(found.values())


class RegistryLog:
    """Reads ``registry.log`` from where the last scan stopped (from its end at start)."""

    def __init__(self, path: Path, on_failure: Callable[[PushFailure], None]) -> None:
        self.path = path
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._offset = self._size()
        self._last: dict[str, PushFailure] = {}

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def _new_lines(self) -> list[str]:
        size = self._size()
        if size < self._offset:  # rotated or truncated
            self._offset = 0
        start = max(self._offset, size - MAX_READ)
        if size == start:
            return []
        with self.path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(size - start)
        complete = data.rfind(b"\n") + 1  # a line still being written is read next time
        self._offset = start + complete
        return data[:complete].decode("utf-8", "replace").splitlines()

    def scan(self) -> list[PushFailure]:
        """New out-of-space failures since the last scan (each repository once per scan)."""
        with self._lock:
            fresh = disk_full_failures(self._new_lines(), time.time())
            for failure in fresh:
                self._last[failure.repository] = failure
        for failure in fresh:
            self._on_failure(failure)
        return fresh

    def recent(self, app: str, within: float) -> list[PushFailure]:
        """``app``'s out-of-space failures seen in the last ``within`` seconds (scans first,
        so a failure the registry logged before this call is always seen)."""
        self.scan()
        now = time.time()
        with self._lock:
            return [f for f in self._last.values() if f.app == app and now - f.at <= within]

    def forget(self, app: str) -> None:
        """Drop an app's failures (the app was destroyed: its name may be reused)."""
        with self._lock:
            self._last = {r: f for r, f in self._last.items() if f.app != app}
