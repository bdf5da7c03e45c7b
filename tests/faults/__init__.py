"""Fault tests: what the platform survives, with the figures docs/reliability.md shows.

Each test calls :func:`record` with what it tried, the failures it saw and how long
recovery took; ``python -m tests.faults.report`` prints the table from the last run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

RESULTS = Path(__file__).parents[2] / "artifacts" / "reliability"


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
