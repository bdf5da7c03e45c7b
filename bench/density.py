"""Density: how many apps one host holds, and whether the control plane stays fast.

Run as root with the project's venv against ``./bin/up``'s platform (credentials from
``moor login``)::

    .venv/bin/python bench/density.py [--apps 100,500,1000] [--workers 4] [--requests 1000]

It builds one small image offline (``FROM scratch``: Debian's static busybox serving a page
with ``busybox httpd`` on ``$PORT`` under a shell that exits on SIGTERM, as a dyno should: PID
1 ignores signals it has no handler for, and each stop would wait out the 10 s grace;
``busybox-static`` is installed with apt if missing),
then deploys apps ``dens-<run>-<i>`` (one web dyno each) until each count in ``--apps`` runs,
through the API and the registry the way ``container:push`` / ``container:release`` do, with
``--workers`` deploys at a time. After each step, with the host idle, it measures:

* time to deploy the step's apps (each counted once it answers 200 through the router);
* host memory used per dyno (MemTotal - MemAvailable, against before the first app);
* ``moor server`` RSS and its CPU while idle (60 s: two of the reconciler's idle passes,
  30 s apart; share of one core);
* the reconciler's last pass and the last routing-table change, from ``/metrics``;
* ``moor apps`` and ``moor ps -a <an app>`` wall time (median of 5), ``GET /metrics`` time;
* p50 / p99 of ``--requests`` requests spread over all apps through the router.

Then every app is destroyed and the time that takes is reported. Goals (issue "Density and
the data path"): 1,000 apps up on a 2-core 24 GiB host, idle ``moor server`` < 5 % of a
core, reconciler pass < 1 s, ``moor ps`` < 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from benchplatform import MOOR, Platform, cpu_seconds

IDLE_WINDOW = 60  # seconds: covers two idle reconciler passes (30 s apart)
SERVE = "trap 'exit 0' TERM; /bin/busybox httpd -f -p \"$PORT\" -h /www & wait"
DOCKERFILE = (
    "FROM scratch\nCOPY busybox /bin/busybox\nCOPY index.html /www/index.html\n"
    f'USER 65534:65534\nCMD ["/bin/busybox", "sh", "-c", {json.dumps(SERVE)}]\n'
)


def busybox() -> Path:
    path = Path("/bin/busybox")
    probe = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    if not path.exists() or "not a dynamic" not in probe.stdout + probe.stderr:
        subprocess.run(["apt-get", "install", "-y", "-q", "busybox-static"], check=True)
    return path


class Density(Platform):
    def build(self) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(busybox(), Path(tmp) / "busybox")
            (Path(tmp) / "index.html").write_text("hello\n")
            (Path(tmp) / "Dockerfile").write_text(DOCKERFILE)
            image, _ = self.docker.images.build(path=tmp, tag="moorage-bench/density:latest")
        return str(image.id)


def used_memory() -> int:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def wall(*args: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([MOOR, *args], capture_output=True, check=True)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def latencies(p: Platform, apps: list[str], n: int) -> tuple[float, float, int]:
    took, failed = [], 0
    with httpx.Client(timeout=10) as c:
        for _ in range(n):
            app = random.choice(apps)
            started = time.monotonic()
            try:
                ok = c.get(p.router, headers={"Host": f"{app}.{p.domain}"}).status_code == 200
            except httpx.HTTPError:
                ok = False
            took.append(time.monotonic() - started)
            failed += not ok
    q = statistics.quantiles(took, n=100)
    return q[49] * 1000, q[98] * 1000, failed


def measure(p: Platform, apps: list[str], step_s: float, base_mem: int, n: int) -> list[str]:
    time.sleep(15)  # let the step's last rollouts and log lines settle
    pid = p.server_pid()
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(IDLE_WINDOW)
    idle = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    timings, metrics_s = p.metrics()
    p50, p99, failed = latencies(p, apps, n)
    return [
        str(len(apps)),
        f"{step_s:.0f}",
        f"{(used_memory() - base_mem) / len(apps) / 2**20:.1f}",
        f"{rss(pid) / 2**20:.0f}",
        f"{idle * 100:.1f}%",
        f"{timings.get('moorage_reconcile_pass_seconds', float('nan')):.3f}",
        f"{timings.get('moorage_router_update_seconds', float('nan')):.3f}",
        f"{wall('apps'):.2f}",
        f"{wall('ps', '-a', apps[0]):.2f}",
        f"{metrics_s:.2f}",
        f"{p50:.1f}/{p99:.1f}",
        str(failed),
    ]


HEADERS = [
    "apps",
    "deploy s",
    "MiB/dyno",
    "server MiB",
    "idle cpu",
    "pass s",
    "router s",
    "apps s",
    "ps s",
    "metrics s",
    "p50/p99 ms",
    "failed",
]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    print("  ".join(h.rjust(w) for h, w in zip(HEADERS, widths, strict=True)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--apps", default="100,500,1000")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="Leave the apps (to profile).")
    args = ap.parse_args()
    steps = sorted({int(x) for x in args.apps.split(",")})
    p = Density()
    image = p.build()
    run = secrets.token_hex(2)
    names = [f"dens-{run}-{i}" for i in range(steps[-1])]
    base_mem = used_memory()
    rows: list[list[str]] = []
    made: list[str] = []
    try:
        with ThreadPoolExecutor(args.workers) as pool:
            for step in steps:
                todo = names[len(made) : step]
                started = time.monotonic()
                list(pool.map(lambda a: p.deploy(a, image), todo))
                made += todo
                rows.append(measure(p, made, time.monotonic() - started, base_mem, args.requests))
                print_table(rows)
    finally:
        started = time.monotonic()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(p.destroy, [] if args.keep else made))
        # the API's list, not docker-py's containers.list(): that inspects each container
        # it lists and fails on one removed in between
        while not args.keep and p.docker.api.containers(all=True, filters={"name": f"dens-{run}-"}):
            time.sleep(1)
        print(
            f"\ndestroyed {len(made)} apps (all their dynos gone) in "
            f"{time.monotonic() - started:.0f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
