"""Router swaps under load: the routing-table swap against nginx's graceful reload.

Run with the project's venv (needs nginx with its lua module, and wrk; no platform)::

    .venv/bin/python bench/router_swap.py [--seconds 10] [--swaps-per-second 5]

It starts a throwaway nginx that answers ``200 ok`` on two loopback ports (the two "dynos")
and a Moorage router (``NginxRouter``) in a temporary directory. wrk (``-t2 -c8``, keep-alive)
sends requests through the router while the app's backend flips between the two dynos
``--swaps-per-second`` times a second, in two modes:

* ``table swap``: ``NginxRouter.apply`` (what the reconciler does on every deploy);
* ``graceful reload`` (the baseline, what the router did before): the same ``apply`` followed
  by a SIGHUP to nginx, i.e. a graceful reload per change.

It prints requests and failures (wrk's non-2xx plus socket errors) per mode. Everything it
starts is stopped by PID, and its directory removed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from release_latency import table

from moorage.router.nginx import NGINX, NginxRouter
from moorage.spec.dyno import Route

DYNOS = """pid {root}/dynos.pid; error_log {root}/dynos.err warn; worker_processes 1;
events {{ worker_connections 1024; }}
http {{ access_log off;
  server {{ listen 127.0.0.1:{a}; location / {{ return 200 "ok a\\n"; }} }}
  server {{ listen 127.0.0.1:{b}; location / {{ return 200 "ok b\\n"; }} }} }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(port: int, seconds: int) -> tuple[int, int, str]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c8",
            f"-d{seconds}s",
            "-H",
            "Host: app.bench.test",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    failed = 0
    sock = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        failed += sum(int(x) for x in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        failed += int(non2xx.group(1))
    detail = f"read {sock.group(2)}" if sock else "-"
    return requests, failed, detail


def run(router: NginxRouter, dynos: list[str], seconds: int, rate: float, hup: bool) -> list[str]:
    stop = threading.Event()
    swaps = 0

    def flip() -> None:
        nonlocal swaps
        while not stop.wait(1 / rate):
            router.apply([Route("app", ("app.bench.test",), (dynos[swaps % 2],))])
            if hup:
                router.reload()
            swaps += 1

    router.apply([Route("app", ("app.bench.test",), (dynos[0],))])
    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        requests, failed, detail = wrk(router.port, seconds)
    finally:
        stop.set()
        flipper.join()
    mode = "graceful reload" if hup else "table swap"
    return [mode, str(swaps), str(requests), str(failed), detail]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--swaps-per-second", type=float, default=5.0)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="moorage-bench-router-"))
    root.chmod(0o755)
    a, b = free_port(), free_port()
    (root / "dynos.conf").write_text(DYNOS.format(root=root, a=a, b=b))
    subprocess.run([NGINX, "-p", str(root), "-c", str(root / "dynos.conf")], check=True)
    router = NginxRouter(root / "router", free_port())
    router.root.mkdir()
    rows = []
    try:
        for hup in (False, True):
            rows.append(
                run(
                    router,
                    [f"127.0.0.1:{a}", f"127.0.0.1:{b}"],
                    args.seconds,
                    args.swaps_per_second,
                    hup,
                )
            )
    finally:
        router.stop()
        os.kill(int((root / "dynos.pid").read_text()), signal.SIGQUIT)
        time.sleep(0.5)
        shutil.rmtree(root, ignore_errors=True)
    print(table(["mode", "swaps", "requests", "failed", "socket errors"], rows))
    print(f"\nwrk -t2 -c8 -d{args.seconds}s through the router; target for table swap: 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
