"""Router cost in instructions: what one request costs nginx's worker, counted by callgrind.

Run as root with the project's venv (no platform needed)::

    .venv/bin/python bench/router_instructions.py [--requests 1000]

Requests per second on a shared 2-core VM move by 10-20 % from one run to the next, more
than the router's whole cost, so this bench counts instead of timing: it runs an nginx under
valgrind's callgrind (``master_process off``: the one process serves), sends ``--requests``
keep-alive requests with curl after 500 to warm LuaJIT up, and reads the user-space
instructions the process executed for them. The counts repeat to within 0.5 % from run to
run. Targets, each proxying to the same small nginx answering ``hello`` on loopback:

* ``nginx``: the baseline of ``bench/router_overhead.py``: plain nginx as it comes, its
  ``combined`` access log and Debian's ``proxy_params`` headers, upstream keep-alive;
* ``bare``: no access log, ``Host`` only;
* ``router``: Moorage's router, its nginx.conf as the platform renders it (routing table,
  request ids, metrics, Heroku's headers, router log lines), set up by ``NginxRouter``.

Kernel work (the sockets, the log writes: plain nginx writes its log once a request, the
router once a second) is not counted; ``bench/router_overhead.py`` measures the whole.
Needs valgrind and curl (``apt-get install valgrind curl``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from router_overhead import SetupError, free_port, plain_nginx_conf

from moorage.router.nginx import NGINX, NginxRouter
from moorage.spec.dyno import Route

HOST = "bench.test"
WARMUP = 500
BACKEND_CONF = """worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off; client_body_temp_path {root}/body; proxy_temp_path {root}/proxy;
  server {{ listen 127.0.0.1:{port}; keepalive_requests 100000;
    location / {{ return 200 "hello\\n"; }} }}
}}
"""


def start_backend(root: Path) -> tuple[str, int]:
    port = free_port()
    conf = root / "backend.conf"
    conf.write_text(BACKEND_CONF.format(root=root, port=port))
    proc = subprocess.run([NGINX, "-p", str(root), "-c", str(conf)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SetupError(f"the backend nginx did not start: {proc.stderr.strip()}")
    return f"127.0.0.1:{port}", int((root / "nginx.pid").read_text())


def plain_conf(root: Path, backend: str, port: int, *, bare: bool) -> Path:
    """``router_overhead.py``'s baseline (HTTP only) as one process."""
    root.mkdir()
    host, _, backend_port = backend.rpartition(":")
    text = plain_nginx_conf(root, (host, int(backend_port)), (port, None), bare=bare)
    conf = root / "nginx.conf"
    conf.write_text("master_process off;\ndaemon off;\n" + text)
    return conf


def router_conf(root: Path, backend: str, port: int) -> Path:
    """The platform's own router set up under ``root`` (started once by NginxRouter, which
    makes its directories, table and request id file, then stopped) as one process."""
    root.mkdir(mode=0o755)
    router = NginxRouter(root, port)
    router.apply([Route("bench", (HOST,), (backend,))])
    router.stop()
    for _ in range(100):
        if not router.running():
            break
        time.sleep(0.1)
    conf = root / "single.conf"
    conf.write_text("master_process off;\ndaemon off;\n" + (root / "nginx.conf").read_text())
    return conf


def curl(port: int, count: int) -> None:
    url = f"http://127.0.0.1:{port}/?[1-{count}]"  # one connection, kept alive
    cmd = ["curl", "-sf", "-o", "/dev/null", "-H", f"Host: {HOST}", url]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SetupError(f"requests through port {port} failed: {' '.join(cmd)}")


def count(name: str, conf: Path, port: int, requests: int) -> float:
    """Instructions per request of the nginx that ``conf`` describes."""
    out = conf.parent / "callgrind.out"
    cmd = ["valgrind", "--tool=callgrind", "--smc-check=all", f"--callgrind-out-file={out}"]
    proc = subprocess.Popen(
        [*cmd, NGINX, "-p", str(conf.parent), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        probe = [
            "curl",
            "-sf",
            "-o",
            "/dev/null",
            "-H",
            f"Host: {HOST}",
            f"http://127.0.0.1:{port}/",
        ]
        while subprocess.run(probe, check=False).returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SetupError(f"{name} did not answer under valgrind (see {conf.parent})")
            time.sleep(0.5)
        curl(port, WARMUP)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
        curl(port, requests)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
    finally:
        proc.terminate()
        proc.wait()
    dumps = sorted(conf.parent.glob("callgrind.out.*"), key=lambda p: p.stat().st_mtime)
    for line in dumps[-1].read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1]) / requests
    raise SetupError(f"callgrind wrote no totals for {name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000, help="requests counted (default 1000)")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "curl"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install valgrind curl", file=sys.stderr)
            return 1
    root = Path(tempfile.mkdtemp(prefix="router-instructions-"))
    root.chmod(0o755)  # the router's workers read its pages and code from here
    backend, backend_pid = start_backend(root)
    try:
        ports = {"nginx": free_port(), "bare": free_port(), "router": free_port()}
        targets = {
            "nginx": plain_conf(root / "nginx", backend, ports["nginx"], bare=False),
            "bare": plain_conf(root / "bare", backend, ports["bare"], bare=True),
            "router": router_conf(root / "router", backend, ports["router"]),
        }
        result = {name: count(name, c, ports[name], args.requests) for name, c in targets.items()}
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        os.kill(backend_pid, 15)
    print(f"user-space instructions per request, {args.requests} keep-alive requests (curl)")
    print(f"{'target':>8}  {'instructions':>12}  {'ratio to nginx':>14}")
    for name, value in result.items():
        print(f"{name:>8}  {value:12,.0f}  {value / result['nginx']:13.2f}x")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
