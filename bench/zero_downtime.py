"""Zero downtime: failed requests under wrk load during each lifecycle operation.

Run with the project's venv against a running platform (credentials from `moor login`)::

    .venv/bin/python bench/zero_downtime.py [--seconds 25] [--connections 8]

It creates its own app ``bench-zd-<random>`` from examples/actors (PostgreSQL add-on,
``ps:port web 5000``, ``ps:scale web=2``). Then, for each operation, it runs ``wrk`` on
loopback through the router (``Host: APP.<domain>``) for ``--seconds``, starts the operation
two seconds in, and waits for it to complete (release live, dynos up) before wrk ends:

* ``release``: a new image (the pushed one plus a label) pushed and ``container:release``d;
* ``rollback``: ``releases:rollback`` to the previous release;
* ``config:set``: a new config var (a new release, every dyno replaced);
* ``scale 2->4->1``: ``ps:scale web=4`` until 4 are up, then ``ps:scale web=1``;
* ``restart``: ``ps:restart`` until every dyno is new; then back to web=2 for the next one;
* ``pg:credentials:rotate``: new database credentials (a release with the new
  ``DATABASE_URL``; the old password is refused once no dyno uses it).

A failed request is a non-2xx/3xx answer or a socket error (connect, read, write, timeout)
as wrk counts them. The table shows requests sent and failed per operation; the baseline
is the same load with no operation (the target is 0 failed everywhere). Everything it
creates is removed at the end. Exit status 0 when the measurements ran.
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import docker
import httpx
from release_latency import (
    Bench,
    BenchError,
    cleanup,
    connect,
    load,
    moor,
    new_image,
    setup,
    table,
)

from moorage.client.dynos import dynos as dynos_of
from moorage.client.releases import release, releases
from moorage.schemas.releases import Dyno
from moorage.spec.status import DynoState, ReleaseStatus


@dataclass
class Result:
    operation: str
    requests: int
    failed: int
    detail: str
    op_seconds: float
    p99_ms: str


def wrk(b: Bench, seconds: int, connections: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-H",
            f"Host: {b.host}",
            b.router_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def parse_wrk(text: str) -> tuple[int, int, str, str]:
    """(requests, failed, what failed, p99) from wrk's report."""
    m = re.search(r"(\d+) requests in", text)
    if not m:
        raise BenchError(f"wrk printed no totals:\n{text}")
    requests = int(m.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    failed, parts = 0, []
    if non2xx:
        failed += int(non2xx.group(1))
        parts.append(f"non-2xx {non2xx.group(1)}")
    if sock:
        counts = [int(x) for x in sock.groups()]
        failed += sum(counts)
        parts.append("connect/read/write/timeout " + "/".join(map(str, counts)))
    p99 = re.search(r"99%\s+(\S+)", text)
    return requests, failed, ", ".join(parts) or "-", p99.group(1) if p99 else "?"


def dynos(b: Bench) -> list[Dyno]:
    return dynos_of(b.api, b.app)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise BenchError(f"timed out waiting for {what}")


def web_up(b: Bench, n: int) -> Callable[[], bool]:
    def check() -> bool:
        ds = [d for d in dynos(b) if d.type == "web"]
        return len(ds) == n and all(d.state == DynoState.UP for d in ds)

    return check


def latest_live(b: Bench) -> None:
    rels = releases(b.api, b.app)
    wait_until(
        lambda: release(b.api, b.app, str(rels[-1].version)).status != ReleaseStatus.PENDING,
        300,
        "the release",
    )


def operations(b: Bench, base_id: str) -> list[tuple[str, Callable[[], None]]]:
    def release() -> None:
        new_image(b, base_id, secrets.token_hex(4))
        moor("container:release", "web", "-a", b.app, timeout=300)

    def rollback() -> None:
        moor("releases:rollback", "-a", b.app, timeout=300)

    def config_set() -> None:
        moor("config:set", f"BENCH_NONCE={secrets.token_hex(4)}", "-a", b.app)
        latest_live(b)

    def scale() -> None:
        moor("ps:scale", "web=4", "-a", b.app)
        wait_until(web_up(b, 4), 300, "4 web dynos up")
        moor("ps:scale", "web=1", "-a", b.app)
        wait_until(web_up(b, 1), 120, "1 web dyno")

    def restart() -> None:
        before = {d.id for d in dynos(b)}
        moor("ps:restart", "-a", b.app)
        wait_until(
            lambda: web_up(b, 2)() and before.isdisjoint({d.id for d in dynos(b)}),
            300,
            "every dyno replaced",
        )

    def rotate() -> None:
        moor("pg:credentials:rotate", "-a", b.app)
        latest_live(b)
        wait_until(web_up(b, 2), 300, "2 web dynos on the new credentials")

    return [
        ("none (baseline)", lambda: None),
        ("release", release),
        ("rollback", rollback),
        ("config:set", config_set),
        ("scale 2->4->1", scale),
        ("restart", restart),
        ("pg:credentials:rotate", rotate),
    ]


def measure(b: Bench, name: str, op: Callable[[], None], seconds: int, connections: int) -> Result:
    moor("ps:scale", "web=2", "-a", b.app)
    wait_until(web_up(b, 2), 300, "2 web dynos up")
    time.sleep(4)  # the router has settled on both
    proc = wrk(b, seconds, connections)
    time.sleep(2)
    t0 = time.monotonic()
    op()
    took = time.monotonic() - t0
    if took > seconds - 4:
        print(f"  warning: {name} took {took:.1f}s of a {seconds}s window", flush=True)
    output, _ = proc.communicate(timeout=seconds + 30)
    requests, failed, detail, p99 = parse_wrk(output)
    print(f"  {name}: {requests} requests, {failed} failed ({took:.1f}s)", flush=True)
    return Result(name, requests, failed, detail, took, p99)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=25, help="wrk duration per operation")
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("setup error: wrk is not installed (./bin/test installs it)", file=sys.stderr)
        return 1
    try:
        creds, api, info, d = connect()
    except Exception as exc:
        print(f"setup error: {exc}", file=sys.stderr)
        return 1
    app = f"bench-zd-{secrets.token_hex(3)}"
    b = Bench(
        app=app,
        timeout=300,
        api=api,
        token=creds.token,
        registry=info["registry"],
        router_url=f"http://127.0.0.1:{int(info.get('router_port', 7080))}/",
        host=f"{app}.{info.get('domain', 'moorage.localhost')}",
        d=d,
        base_net=f"{app}-unused",
    )
    code, results = 0, []
    start_load = load()
    try:
        base_id, _, _ = setup(b)
        for name, op in operations(b, base_id):
            results.append(measure(b, name, op, args.seconds, args.connections))
        print()
        rows = [
            [r.operation, str(r.requests), str(r.failed), f"{r.op_seconds:.1f}", r.p99_ms, r.detail]
            for r in results
        ]
        print(table(["operation", "requests", "failed", "op s", "p99", "failures"], rows))
        total = sum(r.failed for r in results)
        print(
            f"\nwrk -t2 -c{args.connections} -d{args.seconds}s through the router, 2 web dynos;"
            f" failed requests in all: {total} (target 0)"
        )
        print(f"At the start: {start_load}; at the end: {load()}")
    except (BenchError, docker.errors.DockerException, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        print(f"\nCleaning up {b.app} ...", flush=True)
        for p in cleanup(b):
            print(f"cleanup problem: {p}", file=sys.stderr)
    return code


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
