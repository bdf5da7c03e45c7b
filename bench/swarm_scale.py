"""How far the swarm runtime goes on this machine: scale-out time and `ps` latency by dyno count.

Run as root from the repository root (it needs Docker and builds what it uses)::

    .venv/bin/python bench/swarm_scale.py [--nodes 3] [--counts 3,12,24,48]

It starts two throwaway platforms one after the other, with the test suite's helpers
(``tests.livefixtures.live_platform``, ``tests.swarm.cluster.swarm_cluster``): the **baseline**
on the one-host docker runtime, then one on the swarm runtime over ``--nodes`` Docker Engines
running as containers on this machine. On each it deploys tests/integration/apps/tiny (a
Python http.server) and, for each count N in ``--counts``, runs ``moor ps:scale web=N`` and
measures:

* **scale-out s**: from the command to N web dynos all ``up`` (passed their check, which is
  when the reconciler routes them) and the app answering through the router;
* **ps ms**: median of 5 ``GET /apps/<app>/dynos`` (what `moor ps` and every reconcile
  pass read), with N dynos running.

It prints one table with the swarm/docker ratio. Everything it starts is removed at the end.
All of it runs on this one 2-core machine, so the swarm figures include three engines
competing for the same cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.livefixtures import LivePlatform, live_platform  # noqa: E402
from tests.swarm.cluster import swarm_cluster  # noqa: E402

TINY = ROOT / "tests" / "integration" / "apps" / "tiny"


@contextmanager
def platform_on(runtime: str, nodes: int) -> Iterator[LivePlatform]:
    if runtime == "docker":
        with live_platform() as p:
            yield p
        return
    import os

    with swarm_cluster(nodes, f"it{os.getpid()}.localhost") as cluster:
        with live_platform(cluster.env()) as p:
            cluster.trust(f"registry.{p.domain}:{p.https_port}", p.data / "tls" / "ca.crt")
            p.swarm = cluster
            yield p


def dynos(p: LivePlatform, token: str, app: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{p.api}/apps/{app}/dynos",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.heroku+json; version=3",
        },
        timeout=60,
    )
    r.raise_for_status()
    out: list[dict[str, Any]] = r.json()
    return out


def measure(runtime: str, nodes: int, counts: list[int]) -> dict[int, tuple[float, float]]:
    results = {}
    with platform_on(runtime, nodes) as p:
        token = p.moor("auth:token").stdout.strip()
        app = p.create_app("scale")
        p.moor("container:push", "web", "-a", app, cwd=TINY)
        p.moor("container:release", "web", "-a", app, cwd=TINY)
        p.wait_for(app, "tiny v1")
        for n in counts:
            started = time.monotonic()
            p.moor("ps:scale", f"web={n}", "-a", app)
            while True:
                web = [d for d in dynos(p, token, app) if d["type"] == "web"]
                if len(web) == n and all(d["state"] == "up" for d in web):
                    if p.get(app).status_code == 200:
                        break
                if time.monotonic() - started > 900:
                    raise SystemExit(f"{runtime}: web={n} not up within 900 s")
                time.sleep(0.5)
            scale = time.monotonic() - started
            samples = []
            for _ in range(5):
                t0 = time.monotonic()
                dynos(p, token, app)
                samples.append((time.monotonic() - t0) * 1000)
            results[n] = (scale, statistics.median(samples))
            print(
                f"  {runtime}: web={n} up in {scale:.1f} s, ps {results[n][1]:.0f} ms", flush=True
            )
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--counts", default="3,12,24,48")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    base = measure("docker", 1, counts)
    swarm = measure("swarm", args.nodes, counts)
    print()
    print(
        f"{'web dynos':>9} | {'docker scale-out s':>18} {'ps ms':>6} | "
        f"{'swarm scale-out s':>17} {'ps ms':>6} | {'ratio scale':>11} {'ratio ps':>8}"
    )
    for n in counts:
        (ds, dp), (ss, sp) = base[n], swarm[n]
        print(
            f"{n:>9} | {ds:>18.1f} {dp:>6.0f} | {ss:>17.1f} {sp:>6.0f} | "
            f"{ss / ds:>11.2f} {sp / dp:>8.2f}"
        )
    print(
        f"\nbaseline: the docker runtime on this host; swarm: {args.nodes} engines in "
        "containers on the same host (2 cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
