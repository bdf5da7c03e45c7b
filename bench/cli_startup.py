"""Our CLI against the Heroku CLI: wall time of the same commands on the same server.

Run with the project's venv against a running platform with HTTPS at the edge (``./bin/up``;
credentials from ``moor login``)::

    .venv/bin/python bench/cli_startup.py [--runs 10] [--app actors]

The Heroku CLI is ``heroku@11`` from ``.cache/compat`` (installed there by the compat
tests, or by this script with npm), pointed at the platform the way ``moor info`` prints
(``HEROKU_HOST``, ``HEROKU_API_KEY``, ``HEROKU_HEADERS``, ``NODE_EXTRA_CA_CERTS``, a
particleboard URL on our API; telemetry and update checks off). Both CLIs run the same
commands interleaved, ``--runs`` times each: ``apps`` and ``config -a APP``. It prints each
pair's median and p90 wall time and the ratio heroku/moor (the baseline is the Heroku CLI;
target: moor at least 3x faster). Both talk to the same API: ``moor`` over loopback HTTP,
``heroku`` over the TLS edge, as each is configured on a real host.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MOOR = str(ROOT / ".venv" / "bin" / "moor")
CACHE = ROOT / ".cache" / "compat"


def heroku_bin() -> Path:
    heroku = CACHE / "node_modules" / ".bin" / "heroku"
    if not heroku.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "heroku@11"],
            check=True,
        )
    return heroku


def heroku_env(home: str) -> dict[str, str]:
    info = json.loads(
        subprocess.run([MOOR, "info", "--json"], capture_output=True, text=True, check=True).stdout
    )
    token = subprocess.run(
        [MOOR, "auth:token"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not info.get("heroku_host"):
        sys.exit("The platform has no HTTPS edge (MOORAGE_HTTPS_PORT=0); the Heroku CLI needs it.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEROKU_")}
    env.update(
        {
            "HOME": home,
            "XDG_CACHE_HOME": f"{home}/cache",
            "HEROKU_HOST": info["heroku_host"],
            "HEROKU_API_KEY": token,
            "HEROKU_HEADERS": json.dumps({"Authorization": f"Bearer {token}"}),
            "HEROKU_PARTICLEBOARD_URL": info["https_api_url"],
            "NODE_EXTRA_CA_CERTS": info["ca_path"],
            "DISABLE_TELEMETRY": "true",
            "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
            "HEROKU_DISABLE_AUTOUPDATE": "true",
        }
    )
    return env


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--app", default="actors")
    args = parser.parse_args()
    heroku = str(heroku_bin())
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as home:
        env = heroku_env(home)
        timed([heroku, "apps"], env)  # the first run writes the CLI's caches
        commands = {"apps": ["apps"], "config": ["config", "-a", args.app]}
        rows = []
        for name, argv in commands.items():
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(timed([MOOR, *argv]))
                theirs.append(timed([heroku, *argv], env))
            rows.append((name, ours, theirs))
    print(
        f"{'command':>8}  {'moor p50':>9}  {'moor p90':>9}  {'heroku p50':>10}  "
        f"{'heroku p90':>10}  {'heroku/moor':>11}"
    )
    for name, ours, theirs in rows:

        def p90(xs: list[float]) -> float:
            return sorted(xs)[max(0, int(len(xs) * 0.9) - 1)]

        ratio = statistics.median(theirs) / statistics.median(ours)
        print(
            f"{name:>8}  {statistics.median(ours):8.3f}s  {p90(ours):8.3f}s  "
            f"{statistics.median(theirs):9.3f}s  {p90(theirs):9.3f}s  {ratio:10.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
