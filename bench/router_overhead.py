"""Router overhead: what Moorage's router costs per request, against a plain nginx proxy.

Run as root with the project's venv against ``./bin/up``'s platform (credentials from
``moor login``)::

    .venv/bin/python bench/router_overhead.py [--duration 10] [--connections 32] \\
        [--threads 2] [--rounds 2] [--keep]

It builds a fast web dyno offline (``FROM scratch``: the host's nginx binary and the
libraries it links, answering ``hello`` on ``$PORT``, started by Debian's static busybox;
about 10 MB), deploys it as app ``bench-router-<random>`` with one web dyno (through the
registry and the formation, as ``container:push`` / ``container:release`` do) and starts
two plain nginx reverse proxies to that dyno on loopback, the host's nginx with
``worker_processes auto`` like the router, an upstream with ``keepalive 64``, HTTP/1.1 to
the dyno and the edge certificate for HTTPS. Then ``wrk --latency`` measures, alternately
and in the same run:

* ``direct``: the dyno's address on its app network (no proxy);
* ``nginx http`` / ``nginx https``: plain nginx as it comes: its default access log on
  (``combined``, to a file) and Debian's ``proxy_params`` headers (``Host``, ``X-Real-IP``,
  ``X-Forwarded-For``, ``X-Forwarded-Proto``). The baseline of the goal;
* ``bare http`` / ``bare https``: the least nginx does as a proxy: no access log, ``Host``
  only;
* ``router http`` / ``router https``: Moorage's router (``Host: <app>.<domain>``) on the
  router port and the HTTPS edge, with its routing table, metrics, request ids, Heroku's
  headers and router log lines on.

The table shows every round, the best round of each target (highest requests/s), the
ratios router / nginx (the goal of the issue "Density and the data path": >= 0.9x),
router / bare and router / direct over HTTP and HTTPS, and the CPU ``moor server`` used
during each run. Then the app is destroyed (``--keep`` leaves it). Exit status 0 when the
measurements ran, 1 on a setup error (no wrk, a target that does not answer 200).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from benchplatform import Platform, cpu_seconds

WARMUP_SECONDS = 2
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # -> milliseconds
NGINX = Path("/usr/sbin/nginx")
BUSYBOX = Path("/bin/busybox")
DYNO_CONF = """worker_processes 1;
daemon off;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path /tmp/body; proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi; uwsgi_temp_path /tmp/uwsgi; scgi_temp_path /tmp/scgi;
  server { listen @PORT@; location / { default_type text/plain; return 200 "hello\\n"; } }
}
"""
START = (
    'sed "s/@PORT@/$PORT/" /etc/fastweb.conf > /tmp/nginx.conf'
    " && exec nginx -e stderr -c /tmp/nginx.conf"
)
DOCKERFILE = (
    "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/sbin:/bin\nUSER 65534:65534\n"
    f'CMD ["/bin/busybox", "sh", "-c", "{START.replace(chr(34), chr(92) + chr(34))}"]\n'
)


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
    errors: int
    server_cpu: float  # share of one core `moor server` used during the run


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unknown wrk latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(out: str, target: str, rnd: int, server_cpu: float) -> Result:
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
        errors=(int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(int(g) for g in sock.groups()) if sock else 0),
        server_cpu=server_cpu,
    )


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    host: str | None = None


def wrk(args: argparse.Namespace, t: Target, seconds: int) -> str:
    cmd = ["wrk", "--latency", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s"]
    cmd += ["--timeout", "5s", *(["-H", f"Host: {t.host}"] if t.host else []), t.url]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"wrk did not finish within {seconds + 30}s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise SetupError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def rootfs(dest: Path) -> None:
    """The host's nginx, the libraries ``ldd`` says it links, busybox and the config."""
    if not NGINX.exists():
        raise SetupError(f"{NGINX} is missing (./bin/up installs nginx)")
    if not BUSYBOX.exists():
        subprocess.run(["apt-get", "install", "-y", "-q", "busybox-static"], check=True)
    libs = subprocess.run(["ldd", str(NGINX)], capture_output=True, text=True, check=True)
    files = [NGINX, BUSYBOX, *(Path(p) for p in re.findall(r"(/\S+) \(0x", libs.stdout))]
    for f in files:
        target = dest / f.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f.resolve(), target)
    (dest / "etc").mkdir(exist_ok=True)
    (dest / "etc" / "fastweb.conf").write_text(DYNO_CONF)
    (dest / "tmp").mkdir(mode=0o1777)
    (dest / "tmp").chmod(0o1777)


class Bench(Platform):
    def build(self) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            rootfs(Path(tmp) / "rootfs")
            (Path(tmp) / "Dockerfile").write_text(DOCKERFILE)
            image, _ = self.docker.images.build(path=tmp, tag="moorage-bench/fastweb:latest")
        return str(image.id)

    def dyno_address(self, app: str) -> tuple[str, int]:
        c = self.docker.containers.get(f"{app}.web.1")
        ip = (c.attrs["NetworkSettings"]["Networks"].get(f"moorage-{app}") or {}).get("IPAddress")
        if c.status != "running" or not ip:
            raise SetupError(f"{app}.web.1 is {c.status} with no IP on moorage-{app}")
        return ip, int((c.labels or {}).get("moorage.port") or 5000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# what a plain nginx reverse proxy passes as Debian ships it (/etc/nginx/proxy_params)
PROXY_PARAMS = """proxy_set_header Host $http_host; proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;"""


def plain_nginx_conf(
    root: Path, dyno: tuple[str, int], ports: tuple[int, int | None], *, bare: bool
) -> str:
    """``bare``: no access log and only ``Host`` passed, the least nginx can do as a proxy;
    otherwise nginx's defaults (its access log, ``combined``, unbuffered) and Debian's
    ``proxy_params`` headers. HTTPS on ``ports[1]`` with the edge certificate, if given."""
    temps = " ".join(f"{k}_temp_path {root}/{k};" for k in ("client_body", "proxy", "fastcgi"))
    temps += f" uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;"
    tls = "/var/lib/moorage/tls/edge"
    logs = "access_log off;" if bare else f"access_log {root}/access.log combined;"
    headers = "proxy_set_header Host $host;" if bare else PROXY_PARAMS
    https = (
        f"listen 127.0.0.1:{ports[1]} ssl; ssl_certificate {tls}.crt; "
        f"ssl_certificate_key {tls}.key;"
        if ports[1] is not None
        else ""
    )
    return f"""worker_processes auto;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  {logs} {temps}
  upstream dyno {{ server {dyno[0]}:{dyno[1]}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{ports[0]}; {https}
    location / {{ proxy_pass http://dyno; proxy_http_version 1.1;
      proxy_set_header Connection ""; {headers} }}
  }}
}}
"""


class PlainNginx:
    """A baseline: a plain nginx reverse proxy to the dyno, in a directory of its own."""

    def __init__(self, dyno: tuple[str, int], *, bare: bool) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="plain-nginx-"))
        self.http, self.https = free_port(), free_port()
        conf = self.root / "nginx.conf"
        conf.write_text(plain_nginx_conf(self.root, dyno, (self.http, self.https), bare=bare))
        proc = subprocess.run(
            [str(NGINX), "-p", str(self.root), "-e", str(self.root / "error.log"), "-c", str(conf)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SetupError(f"the plain nginx did not start: {proc.stderr.strip()}")

    def stop(self) -> None:
        pid = int((self.root / "nginx.pid").read_text())
        os.kill(pid, 15)
        time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)


def check(targets: list[Target]) -> None:
    for t in targets:
        try:
            resp = httpx.get(t.url, headers={"Host": t.host} if t.host else {}, verify=False)
        except httpx.HTTPError as exc:
            raise SetupError(f"{t.name} ({t.url}) does not answer: {exc}") from exc
        if resp.status_code != 200:
            raise SetupError(f"{t.name} ({t.url}, Host {t.host or '-'}) gave {resp.status_code}")


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def report(args: argparse.Namespace, targets: list[Target], results: list[Result]) -> str:
    def row(r: Result, label: str) -> list[str]:
        cells = [r.target, label, f"{r.rps:.0f}", f"{r.p50:.2f}", f"{r.p99:.2f}"]
        return [*cells, str(r.requests), str(r.errors), f"{r.server_cpu * 100:.0f}%"]

    best = {t.name: max((r for r in results if r.target == t.name), key=lambda r: r.rps)
            for t in targets}  # fmt: skip
    rows = [row(r, str(r.round)) for r in results] + [row(best[t.name], "best") for t in targets]

    def ratio(proto: str, base: str) -> str:
        return f"{best[f'router {proto}'].rps / best[base].rps:.2f}x"

    def by_round(proto: str) -> str:
        """The median over rounds of router / nginx in the same round: on a machine whose
        speed drifts (a shared VM), steadier than the ratio of two best rounds."""
        rps = {(r.target, r.round): r.rps for r in results}
        pairs = [rps[f"router {proto}", n] / rps[f"nginx {proto}", n]
                 for n in range(1, args.rounds + 1)]  # fmt: skip
        return f"{statistics.median(pairs):.2f}x"

    ratios = [
        [proto, ratio(proto, f"nginx {proto}"), by_round(proto), ratio(proto, f"bare {proto}"),
         ratio(proto, "direct"),
         f"{best[f'router {proto}'].p50 - best[f'nginx {proto}'].p50:+.2f}",
         f"{best[f'router {proto}'].p99 - best[f'nginx {proto}'].p99:+.2f}"]
        for proto in ("http", "https")
    ]  # fmt: skip
    heads = ["target", "round", "req/s", "p50 ms", "p99 ms", "requests", "errors", "server cpu"]
    return (
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
        f"{args.rounds} rounds per target, alternating\n"
        + "\n".join(
            f"  {t.name:12} {t.url}" + (f" (Host: {t.host})" if t.host else "") for t in targets
        )
        + "\n\n"
        + table(heads, rows)
        + "\n\n"
        + table(
            [
                "",
                "router/nginx",
                "by round",
                "router/bare",
                "router/direct",
                "p50 added",
                "p99 added",
            ],
            ratios,
        )
        + "\n(best round of each; by round = median over rounds of router/nginx in the same"
        " round; added = router minus nginx, ms; errors = non-2xx/3xx answers"
        " + socket errors; server cpu = share of one core `moor server` used during the run)"
    )


def measure(args: argparse.Namespace, p: Bench, targets: list[Target]) -> list[Result]:
    pid = p.server_pid()
    for t in targets:
        wrk(args, t, WARMUP_SECONDS)
    results = []
    for rnd in range(1, args.rounds + 1):
        for t in targets:
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            out = wrk(args, t, args.duration)
            cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
            results.append(parse_wrk(out, t.name, rnd, cpu))
            time.sleep(1)
    return results


def router_target(p: Bench, proto: str, host: str) -> tuple[str, str]:
    url = f"{p.router}/" if proto == "http" else f"https://127.0.0.1:{p.https_port}/"
    return url, host


def run(args: argparse.Namespace, p: Bench, app: str) -> int:
    print(f"deploying {app} (a fast nginx dyno) ...", flush=True)
    p.deploy(app, p.build())
    dyno = p.dyno_address(app)
    plain = PlainNginx(dyno, bare=False)
    bare = PlainNginx(dyno, bare=True)
    try:
        host = f"{app}.{p.domain}"
        targets = [Target("direct", f"http://{dyno[0]}:{dyno[1]}/")]
        for proto, port in (("http", "http"), ("https", "https")):
            targets += [
                Target(f"nginx {proto}", f"{proto}://127.0.0.1:{getattr(plain, port)}/"),
                Target(f"bare {proto}", f"{proto}://127.0.0.1:{getattr(bare, port)}/"),
                Target(f"router {proto}", *router_target(p, proto, host)),
            ]
        check(targets)
        total = len(targets) * (WARMUP_SECONDS + args.rounds * (args.duration + 1))
        print(f"measuring for about {total} s ...", flush=True)
        one, five, _ = os.getloadavg()
        results = measure(args, p, targets)
    finally:
        plain.stop()
        bare.stop()
    print()
    print(report(args, targets, results))
    print(f"load average at the start {one:.2f} (1 min) {five:.2f} (5 min) on "
          f"{os.cpu_count()} CPUs; at the end {os.getloadavg()[0]:.2f} (1 min)")  # fmt: skip
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    ap.add_argument("--connections", type=int, default=32, help="wrk -c (default 32)")
    ap.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    ap.add_argument("--rounds", type=int, default=2, help="runs per target (default 2)")
    ap.add_argument("--keep", action="store_true", help="leave the app (to profile)")
    args = ap.parse_args()
    if args.duration < 1 or args.rounds < 1 or not 1 <= args.threads <= args.connections:
        ap.error("need --duration >= 1, --rounds >= 1 and 1 <= --threads <= --connections")
    if shutil.which("wrk") is None:
        print("setup error: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 1
    p = Bench()
    app = f"bench-router-{secrets.token_hex(2)}"
    try:
        return run(args, p, app)
    except (SetupError, ValueError) as exc:
        print(f"setup error: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            p.destroy(app)


if __name__ == "__main__":
    sys.exit(main())
