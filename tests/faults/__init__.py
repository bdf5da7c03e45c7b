"""Fault tests: what the platform survives, with the figures docs/reliability.md shows.

Each test calls :func:`record` with what it tried, the failures it saw and how long
recovery took; ``python -m tests.faults.report`` prints the table from the last run.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.livefixtures import LivePlatform

RESULTS = Path(__file__).parents[2] / "artifacts" / "reliability"
WRK_TIMEOUT = "30s"
"""wrk's per-request timeout: a slow answer from a loaded test host is not a failed request
(a refused, reset or non-2xx one still is)."""


def record(name: str, *, tried: str, failures: int, recovery: str, command: str) -> None:
    """Save one row of the reliability table (``artifacts/reliability/<name>.json``)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    row = {"test": name, "tried": tried, "failures": failures, "recovery": recovery}
    (RESULTS / f"{slug}.json").write_text(json.dumps({**row, "command": command}, indent=1))


def wrk_summary(out: str) -> dict[str, int]:
    """Requests, socket errors and non-2xx answers from wrk's report."""
    requests = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert requests, out
    return {
        "requests": int(requests.group(1)),
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def wrk_command(platform: LivePlatform, app: str, seconds: int, connections: int = 8) -> list[str]:
    """wrk through the platform's router to ``app`` for ``seconds`` (2 threads)."""
    return [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        WRK_TIMEOUT,
        "-H",
        f"Host: {app}.{platform.domain}",
        f"http://127.0.0.1:{platform.router_port}/",
    ]


def wait_for_traffic(
    platform: LivePlatform, app: str, requests: int = 20, timeout: float = 90
) -> None:
    """Return once ``app``'s router log shows ``requests`` requests that were not in it when
    called: the load a test has just started is flowing through the router."""

    def seen() -> set[str]:
        out = platform.moor("logs", "-a", app, "--source", "router", "-n", "1000").stdout
        return set(re.findall(r"request_id=(\S+)", out))

    before = seen()
    deadline = time.monotonic() + timeout
    while len(seen() - before) < requests:
        assert time.monotonic() < deadline, f"no traffic to {app} in its router log"
        time.sleep(0.5)
