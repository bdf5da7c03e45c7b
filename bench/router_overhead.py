"""Router overhead: wrk straight to a web dyno vs. through the router (nginx), same run.

Run with the project's venv while the platform and the app run::

    .venv/bin/python bench/router_overhead.py [--app actors] [--duration 10] \\
        [--connections 8] [--threads 2] [--rounds 2] [--path /]

Targets, both on this machine:

* **direct**: ``http://<ip of APP.web.1 on network moorage-APP>:<port>/`` (the dyno's
  container IP on the app's bridge network);
* **router**: ``http://127.0.0.1:<router port>/`` with ``Host: APP.<domain>``.

After a short warm-up of each target, the targets are measured alternately (direct, router,
direct, router, ...) with ``wrk --latency``; the table shows every round, then the best
round of each (highest requests/s), the throughput ratio router/direct and the p50/p99
latency added by the router. When the app closes every connection (as the Flask dev server
does), each run waits (at most 65 s) for enough free ephemeral ports first: see
``wait_for_ports``. Exit status: 0 when the measurements ran, 1 on a setup error
(no wrk, no dyno, a target that does not answer 200).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx

from moorage.client.api import Client
from moorage.client.credentials import load as load_credentials

WARMUP_SECONDS = 2
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # -> milliseconds


class SetupError(Exception):
    pass


@dataclass
class Result:
    target: str
    round: int
    rps: float
    p50: float  # ms
    p99: float  # ms
    requests: int
    non_2xx: int
    socket_errors: int


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unknown wrk latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(out: str, target: str, rnd: int) -> Result:
    """The numbers of one `wrk --latency` report."""

    def find(pattern: str) -> re.Match[str]:
        m = re.search(pattern, out, re.MULTILINE)
        if not m:
            raise ValueError(f"wrk output has no match for {pattern!r}:\n{out}")
        return m

    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Result(
        target=target,
        round=rnd,
        rps=float(find(r"^Requests/sec:\s+([\d.]+)").group(1)),
        p50=to_ms(find(r"^\s+50%\s+(\S+)").group(1)),
        p99=to_ms(find(r"^\s+99%\s+(\S+)").group(1)),
        requests=int(find(r"^\s+(\d+) requests in").group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
    )


def wrk(args: argparse.Namespace, url: str, host: str | None, seconds: int) -> str:
    cmd = [
        "wrk",
        "--latency",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
    ]
    if host:
        cmd += ["-H", f"Host: {host}"]
    cmd.append(url)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"wrk did not finish within {seconds + 30}s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise SetupError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


Targets = dict[str, tuple[str, str | None]]


def targets(args: argparse.Namespace) -> tuple[Targets, tuple[str, int], bool]:
    """{"direct": (url, None), "router": (url, host)}, the dyno's (ip, port) and whether it
    closes every connection; SetupError when a target is missing or does not answer 200."""
    try:
        info: dict[str, Any] = Client(load_credentials(), timeout=10.0).info()
    except Exception as exc:  # the API is only asked for the router port and domain
        print(f"(API not asked: {exc}; using the default router port and domain)")
        info = {}
    router_port = int(info.get("router_port", 7080))
    host = f"{args.app}.{info.get('domain', 'moorage.localhost')}"
    net = f"moorage-{args.app}"
    name = f"{args.app}.web.1"
    try:
        c = docker.from_env(timeout=30).containers.get(name)
    except docker.errors.NotFound as exc:
        raise SetupError(f"no container {name}: is {args.app} released with a web dyno?") from exc
    except docker.errors.DockerException as exc:
        raise SetupError(f"Docker does not answer: {exc}") from exc
    ip = (c.attrs["NetworkSettings"]["Networks"].get(net) or {}).get("IPAddress")
    if c.status != "running" or not ip:
        raise SetupError(f"{name} is {c.status} with no IP on {net}")
    port = int((c.labels or {}).get("moorage.port") or 5000)
    path = args.path if args.path.startswith("/") else "/" + args.path
    found = {
        "direct": (f"http://{ip}:{port}{path}", None),
        "router": (f"http://127.0.0.1:{router_port}{path}", host),
    }
    closes = False
    for label, (url, h) in found.items():
        try:
            resp = httpx.get(url, headers={"Host": h} if h else {}, timeout=5.0)
        except httpx.HTTPError as exc:
            raise SetupError(f"{label} target {url} does not answer: {exc}") from exc
        if resp.status_code != 200:
            raise SetupError(f"{label} target {url} (Host {h or '-'}) gave {resp.status_code}")
        if label == "direct":
            closes = resp.headers.get("connection", "").lower() == "close"
    return found, (ip, port), closes


# -- ephemeral ports ----------------------------------------------------------------------------
# When the app closes every connection (the Flask dev server does), each request is a new TCP
# connection to the dyno, from wrk (direct) or from nginx (router), from the same host address
# to the same ip:port; each leaves a TIME_WAIT socket for 60 s. At ~800 req/s a few runs in a
# row use up the ephemeral port range and connects fail with EADDRNOTAVAIL (the router answers
# 502, for every client of the app). So before each run, wait (bounded) until enough ports are
# free for it.
TIME_WAIT_DRAIN_MAX = 65.0


def time_wait_to(ip: str, port: int) -> int:
    """TIME_WAIT IPv4 sockets whose remote end is ip:port (from /proc/net/tcp)."""
    want = f"{struct.unpack('<I', socket.inet_aton(ip))[0]:08X}:{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return 0
    return sum(1 for ln in lines if (f := ln.split())[2] == want and f[3] == "06")


def port_range() -> int:
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 28232
    return hi - lo + 1


def wait_for_ports(dyno: tuple[str, int], need: int) -> float:
    """Sleep until ``need`` more connections to the dyno fit in 80 % of the port range."""
    t0, budget = time.monotonic(), int(port_range() * 0.8)
    while time_wait_to(*dyno) + need > budget and time.monotonic() - t0 < TIME_WAIT_DRAIN_MAX:
        time.sleep(1)
    return time.monotonic() - t0


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def report(
    args: argparse.Namespace, found: Targets, results: list[Result], closes: bool, waited: float
) -> str:
    def row(r: Result, label: str) -> list[str]:
        return [
            r.target,
            label,
            f"{r.rps:.1f}",
            f"{r.p50:.2f}",
            f"{r.p99:.2f}",
            str(r.requests),
            str(r.non_2xx + r.socket_errors),
        ]

    best = {t: max((r for r in results if r.target == t), key=lambda r: r.rps) for t in found}
    rows = [row(r, str(r.round)) for r in results]
    rows += [row(best[t], "best") for t in found]
    d, r = best["direct"], best["router"]
    targets_text = "\n".join(
        f"  {t:6} {url}" + (f"  (Host: {h})" if h else "") for t, (url, h) in found.items()
    )
    return (
        f"Router overhead: wrk -t{args.threads} -c{args.connections} -d{args.duration}s "
        f"--latency, {args.rounds} rounds per target, alternating\n{targets_text}\n\n"
        + table(["target", "round", "req/s", "p50 ms", "p99 ms", "requests", "errors"], rows)
        + "\n\n"
        + table(
            ["router/direct req/s", "p50 added ms", "p99 added ms"],
            [[f"{r.rps / d.rps:.2f}x", f"{r.p50 - d.p50:+.2f}", f"{r.p99 - d.p99:+.2f}"]],
        )
        + "\n(best round of each target; errors = non-2xx/3xx answers + socket errors)"
        + (
            "\nThe app answers `Connection: close`: every request is a new TCP connection to "
            "the dyno,\nfrom wrk (direct) or from nginx (router; its upstream keepalive is "
            "unused)."
            if closes
            else ""
        )
        + (
            f"\nWaited {waited:.0f} s in all between runs for TIME_WAIT sockets to the dyno "
            "to drain."
            if waited >= 1
            else ""
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--app", default="actors", help="the app (default actors)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    ap.add_argument("--connections", type=int, default=8, help="wrk -c (default 8)")
    ap.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    ap.add_argument("--rounds", type=int, default=2, help="runs per target (default 2)")
    ap.add_argument("--path", default="/", help="request path (default /)")
    args = ap.parse_args()
    if args.duration < 1 or args.rounds < 1 or not 1 <= args.threads <= args.connections:
        ap.error("need --duration >= 1, --rounds >= 1 and 1 <= --threads <= --connections")
    try:
        if shutil.which("wrk") is None:
            raise SetupError("wrk is not installed (apt-get install -y wrk)")
        found, dyno, closes = targets(args)
        load_start = load()
        total = len(found) * (WARMUP_SECONDS + args.rounds * args.duration)
        extra = " (plus waits for free ports, at most 65 s each)" if closes else ""
        print(f"Measuring {args.app} for about {total} s{extra} ...", flush=True)
        rate, waited = 1000.0, 0.0  # connections/s assumed until the first measurement

        def need(seconds: int) -> int:
            return int(rate * seconds * 1.25) if closes else 0

        warm = []
        for label, (url, host) in found.items():
            waited += wait_for_ports(dyno, need(WARMUP_SECONDS))
            warm.append(parse_wrk(wrk(args, url, host, WARMUP_SECONDS), label, 0).rps)
        rate = max(warm)
        results: list[Result] = []
        for rnd in range(1, args.rounds + 1):
            for label, (url, host) in found.items():
                waited += wait_for_ports(dyno, need(args.duration))
                results.append(parse_wrk(wrk(args, url, host, args.duration), label, rnd))
                rate = max(r.rps for r in results)
                time.sleep(0.5)
    except (SetupError, ValueError) as exc:
        print(f"setup error: {exc}", file=sys.stderr)
        return 1
    print()
    print(report(args, found, results, closes, waited))
    print(f"At the start: {load_start}; at the end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
