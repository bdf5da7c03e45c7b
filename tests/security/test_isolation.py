"""Dyno isolation, probed from inside dynos of a live platform.

Every check runs Python in a dyno (``moor run`` one-offs, ``moor ps:exec``), which prints one
JSON result the test parses. Apps A and B are two ``tiny`` apps with a PostgreSQL add-on each
and no group. Each test records what it tried in ``artifacts/reliability/`` (``failures`` =
isolation breaches found).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import docker
import httpx
import pytest

from moorage.runtime.docker import DockerRuntime
from moorage.spec.dyno import DynoSpec
from tests.faults import record
from tests.livefixtures import LivePlatform, in_pty

pytestmark = pytest.mark.integration

TINY = Path(__file__).parents[1] / "integration" / "apps" / "tiny"
CMD = "pytest tests/security/test_isolation.py -k "
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock")

# Runs first in every dyno script: ``emit`` prints the result between markers (the script is
# sent compressed, so the markers never appear in the "Running ..." line that echoes it);
# ``probe`` tries TCP connections in parallel, each bounded by ``timeout``.
PRELUDE = r"""
import errno, json, os, socket, struct, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor

def emit(obj):
    sys.stdout.write("@@ISOLATION@@" + json.dumps(obj) + "@@END@@\n")
    sys.stdout.flush()

def probe(targets, timeout=3.0):
    def one(target):
        host, port = target
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        start = time.monotonic()
        try:
            sock.connect((host, port))
            result = "open"
        except socket.timeout:
            result = "timeout"
        except OSError as exc:
            result = errno.errorcode.get(exc.errno or 0, str(exc))
        finally:
            sock.close()
        return [host, port, result, round(time.monotonic() - start, 2)]
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, targets))

def gateway():
    with open("/proc/net/route") as fh:
        for line in fh.read().splitlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000":
                return socket.inet_ntoa(struct.pack("<L", int(fields[2], 16)))
    return None

def cgroup(name):
    for path in ("/sys/fs/cgroup/pids/" + name, "/sys/fs/cgroup/memory/" + name,
                 "/sys/fs/cgroup/" + name):
        try:
            with open(path) as fh:
                return fh.read().strip()
        except OSError:
            pass
    return None
"""


def _in_dyno(
    platform: LivePlatform,
    app: str,
    body: str,
    args: Any = None,
    *,
    verb: tuple[str, ...] = ("run",),
    timeout: float = 90,
) -> tuple[int, dict[str, Any]]:
    """Run ``body`` (Python, after PRELUDE, with ``ARGS``) in a dyno of ``app`` through
    ``moor <verb> -a app -- python3 -c ...`` on a pseudo-terminal; its exit status and the
    object it emitted."""
    source = PRELUDE + f"ARGS = json.loads({json.dumps(json.dumps(args))})\n" + body
    blob = base64.b64encode(zlib.compress(source.encode(), 9)).decode()
    stub = f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{blob}')))"
    code, output = in_pty(platform, *verb, "-a", app, "--", "python3", "-c", stub, timeout=timeout)
    found = re.search(r"@@ISOLATION@@(.*?)@@END@@", output, re.S)
    assert found, f"no result from the dyno (exit {code}):\n{output[-3000:]}"
    return code, json.loads(found.group(1))


def _host_ipv4() -> list[str]:
    """Every IPv4 address of this host (loopback, the uplink, docker0, all app bridges)."""
    out = subprocess.run(
        ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    return sorted({a["local"] for iface in json.loads(out) for a in iface.get("addr_info", [])})


def _dyno_ip(platform: LivePlatform, app: str, name: str = "web.1") -> str:
    c = docker.from_env().containers.get(f"{app}.{name}")
    net = f"moorage-{platform.env['MOORAGE_INSTANCE']}-{app}"
    return str(c.attrs["NetworkSettings"]["Networks"][net]["IPAddress"])


def _config(platform: LivePlatform, app: str, key: str) -> str:
    return platform.moor("config:get", key, "-a", app).stdout.strip()


def _oneoffs(platform: LivePlatform, app: str) -> list[str]:
    labels = [
        f"moorage.instance={platform.env['MOORAGE_INSTANCE']}",
        f"moorage.app={app}",
        "moorage.oneoff=1",
    ]
    found = docker.from_env().containers.list(all=True, filters={"label": labels})
    return [c.name or "" for c in found]


def _no_oneoffs_left(platform: LivePlatform, app: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _oneoffs(platform, app) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _oneoffs(platform, app) == [], "the one-off container was not removed"


@pytest.fixture(scope="module")
def pair(platform: LivePlatform) -> tuple[str, str]:
    """Apps A and B: ``tiny`` web dynos, a PostgreSQL add-on each, no group."""
    apps = []
    for prefix in ("isoa", "isob"):
        app = platform.create_app(prefix)
        platform.moor("addons:create", "postgresql", "-a", app)
        platform.moor("container:push", "web", "-a", app, cwd=TINY)
        platform.moor("container:release", "web", "-a", app, cwd=TINY)
        platform.wait_for(app, "tiny v1")
        apps.append(app)
    return apps[0], apps[1]


# -- 1. no Docker ---------------------------------------------------------------------------
def test_no_docker_socket_and_no_docker_api_over_tcp(
    platform: LivePlatform, pair: tuple[str, str]
) -> None:
    a, _ = pair
    addresses = _host_ipv4()
    code, seen = _in_dyno(
        platform,
        a,
        r"""
gw = gateway()
hosts = sorted(set(ARGS["hosts"]) | {gw})
with open("/proc/self/mountinfo") as fh:
    mounts = [line for line in fh if "docker.sock" in line or "containerd.sock" in line]
emit({
    "sockets": {p: os.path.exists(p) for p in ARGS["sockets"]},
    "mounts": mounts,
    "env": sorted(k for k in os.environ if k.startswith(("DOCKER", "MOORAGE"))),
    "gateway": gw,
    "tcp": probe([(h, p) for h in hosts for p in (2375, 2376)]),
})
""",
        {"hosts": addresses, "sockets": DOCKER_SOCKETS},
    )
    assert code == 0
    breaches = [p for p, there in seen["sockets"].items() if there]
    breaches += seen["mounts"] + seen["env"]
    breaches += [t for t in seen["tcp"] if t[2] == "open"]
    record(
        "isolation: no Docker Engine from a dyno",
        tried=f"{len(DOCKER_SOCKETS)} socket paths, mountinfo, DOCKER_*/MOORAGE_* env, "
        f"TCP 2375/2376 on {len(seen['tcp']) // 2} host addresses incl. gateway {seen['gateway']}",
        failures=len(breaches),
        recovery="n/a",
        command=CMD + "docker",
    )
    assert breaches == [], breaches


# -- 2. no control plane -------------------------------------------------------------------
def test_api_and_registry_ports_are_unreachable_from_a_dyno(
    platform: LivePlatform, pair: tuple[str, str]
) -> None:
    a, _ = pair
    api_port = int(platform.env["MOORAGE_API_PORT"])
    registry_port = int(platform.env["MOORAGE_REGISTRY_PORT"])
    database = urlsplit(_config(platform, a, "DATABASE_URL"))
    code, seen = _in_dyno(
        platform,
        a,
        r"""
gw = gateway()
hosts = sorted(set(ARGS["hosts"]) | {gw})
emit({
    "gateway": gw,
    "closed": probe([(h, p) for h in hosts for p in ARGS["ports"]]),
    # positive controls: what dynos are meant to reach on the host
    "postgres": probe([(ARGS["pg"][0], ARGS["pg"][1])]),
    "router": probe([(gw, ARGS["router"])]),
    "edge": probe([(gw, ARGS["edge"])]),
    "control_socket": os.path.exists(ARGS["control"]),
})
""",
        {
            "hosts": _host_ipv4(),
            "ports": [api_port, registry_port],
            "pg": [database.hostname, database.port],
            "router": platform.router_port,
            "edge": platform.https_port,
            "control": str(platform.data / "router"),
        },
    )
    assert code == 0
    reached = [t for t in seen["closed"] if t[2] == "open"]
    slow = [t for t in seen["closed"] if t[3] > 5]
    assert seen["postgres"][0][2] == "open", seen["postgres"]  # the probe itself works
    record(
        "isolation: control plane unreachable from a dyno",
        tried=f"TCP to the API ({api_port}) and registry ({registry_port}) ports on "
        f"{len(seen['closed']) // 2} host addresses incl. gateway {seen['gateway']} "
        f"(results: {sorted({t[2] for t in seen['closed']})}); the router's data dir is not "
        f"mounted; control: PostgreSQL {seen['postgres'][0][2]}, router "
        f"{seen['router'][0][2]}, public HTTPS edge {seen['edge'][0][2]} (by design: it "
        "serves api./registry. by Host name to anyone, token required)",
        failures=len(reached) + int(seen["control_socket"]),
        recovery="n/a",
        command=CMD + "control_plane or api_and_registry",
    )
    assert reached == [] and not seen["control_socket"], seen
    assert slow == [], slow  # refused or timed out within the probe's 3 s


# -- 3. other apps' dynos ------------------------------------------------------------------
def test_another_apps_dynos_are_unreachable_and_unnamed(
    platform: LivePlatform, pair: tuple[str, str]
) -> None:
    a, b = pair
    b_ip = _dyno_ip(platform, b)
    with socket.create_connection((b_ip, 8080), timeout=3):  # the host reaches it: it is up
        pass
    names = [f"{b}.internal", b, f"{b}.web.1"]
    code, seen = _in_dyno(
        platform,
        a,
        r"""
def resolves(name):
    try:
        return sorted({ai[4][0] for ai in socket.getaddrinfo(name, 8080)})
    except socket.gaierror as exc:
        return "gaierror: " + str(exc)
emit({
    "connect": probe([(ARGS["ip"], 8080)]),
    "names": {n: resolves(n) for n in ARGS["names"]},
    "own": resolves(ARGS["own"]),
})
""",
        {"ip": b_ip, "names": names, "own": f"{a}.web.1"},
    )
    assert code == 0
    breaches = [t for t in seen["connect"] if t[2] == "open"]
    breaches += [n for n, r in seen["names"].items() if isinstance(r, list)]
    record(
        "isolation: another app's dynos from a dyno",
        tried=f"TCP to B's web.1 at {b_ip}:8080 ({seen['connect'][0][2]} after "
        f"{seen['connect'][0][3]} s); DNS of {', '.join(names)} (A's own {a}.web.1: "
        f"{seen['own']})",
        failures=len(breaches),
        recovery="n/a",
        command=CMD + "another_apps_dynos",
    )
    assert breaches == [], seen
    assert isinstance(seen["own"], list), seen  # the resolver works: A's own dyno has a name
    assert seen["connect"][0][3] <= 5


# -- 4. other apps' databases --------------------------------------------------------------
def test_another_apps_database_is_refused_from_a_dyno(
    platform: LivePlatform, pair: tuple[str, str]
) -> None:
    a, b = pair
    theirs = urlsplit(_config(platform, b, "DATABASE_URL"))
    code, seen = _in_dyno(
        platform,
        a,
        r"""
from urllib.parse import urlsplit, quote
mine = urlsplit(os.environ["DATABASE_URL"])
host, port = ARGS["host"], ARGS["port"]

def psql(user, password, db):
    url = "postgresql://%s:%s@%s:%s/%s?connect_timeout=5" % (
        quote(user, safe=""), quote(password, safe=""), host, port, db)
    p = subprocess.run(["psql", "-X", "-w", "-Atc", "SELECT current_user", url],
                       capture_output=True, text=True, timeout=20)
    return [p.returncode, (p.stdout + p.stderr).strip()[-300:]]

emit({
    "own": psql(mine.username, mine.password, mine.path.lstrip("/")),
    "a_creds_b_db": psql(mine.username, mine.password, ARGS["db"]),
    "b_user_a_password": psql(ARGS["user"], mine.password, ARGS["db"]),
    "superuser": psql("postgres", "", "postgres"),
})
""",
        {
            "host": theirs.hostname,
            "port": theirs.port,
            "db": theirs.path.lstrip("/"),
            "user": theirs.username,
        },
    )
    assert code == 0
    assert seen["own"][0] == 0, seen["own"]  # A's own database answers from its dyno
    attempts = ("a_creds_b_db", "b_user_a_password", "superuser")
    breaches = [k for k in attempts if seen[k][0] == 0]
    record(
        "isolation: another app's database from a dyno",
        tried="psql from A's dyno to B's host/port/database with A's credentials, as B's "
        "role with A's password, as postgres without password (A's own: connects)",
        failures=len(breaches),
        recovery="n/a",
        command=CMD + "database",
    )
    assert breaches == [], seen
    assert "pg_hba.conf" in seen["a_creds_b_db"][1], seen["a_creds_b_db"]
    assert "pg_hba.conf" in seen["superuser"][1], seen["superuser"]
    assert re.search(r"pg_hba\.conf|password authentication", seen["b_user_a_password"][1])


# -- 5. no privileges ----------------------------------------------------------------------
PRIVILEGES = r"""
import ctypes, tempfile
libc = ctypes.CDLL(None, use_errno=True)

def status():
    with open("/proc/self/status") as fh:
        rows = dict(line.split(":", 1) for line in fh.read().splitlines() if ":" in line)
    return {k: rows[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs",
                                         "Uid", "Seccomp") if k in rows}

def attempt(fn):
    try:
        fn()
        return "allowed"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))

def call(name, *args):
    def go():
        if getattr(libc, name)(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    return go

scratch = tempfile.mkdtemp()
victim = os.path.join(scratch, "f")
open(victim, "w").close()
emit({
    "status": status(),
    "uid": [os.getuid(), os.geteuid(), os.getgid()],
    "chown_root": attempt(lambda: os.chown(victim, 0, 0)),
    "chown_other": attempt(lambda: os.chown(victim, 1000, 1000)),
    "chown_etc_passwd": attempt(lambda: os.chown("/etc/passwd", 65534, 65534)),
    "mount": attempt(call("mount", b"none", scratch.encode(), b"tmpfs", 0, None)),
    "setuid_root": attempt(lambda: os.setuid(0)),
    "raw_icmp": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                              socket.IPPROTO_ICMP).close()),
    "packet": attempt(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()),
    "ping": subprocess.run(["sh", "-c", "command -v ping && ping -c1 -W1 " + gateway()],
                           capture_output=True, text=True).returncode,
    # last: had it worked, the process would be in a new user namespace from here on
    "unshare_userns": attempt(call("unshare", 0x10000000 | 0x00020000)),
})
"""


def test_dynos_run_without_privileges(platform: LivePlatform, pair: tuple[str, str]) -> None:
    a, _ = pair
    results = {
        "one-off run.N": _in_dyno(platform, a, PRIVILEGES),
        "web.1 via ps:exec": _in_dyno(platform, a, PRIVILEGES, verb=("ps:exec",)),
    }
    breaches: list[str] = []
    for where, (code, seen) in results.items():
        assert code == 0, (where, seen)
        st = seen["status"]
        for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
            if int(st[key], 16) != 0:
                breaches.append(f"{where}: {key}={st[key]}")
        if st["NoNewPrivs"] != "1":
            breaches.append(f"{where}: NoNewPrivs={st['NoNewPrivs']}")
        if seen["uid"] != [65534, 65534, 65534]:
            breaches.append(f"{where}: uid/euid/gid {seen['uid']}")
        for key in (
            "chown_root",
            "chown_other",
            "chown_etc_passwd",
            "mount",
            "unshare_userns",
            "setuid_root",
            "raw_icmp",
            "packet",
        ):
            if seen[key] == "allowed":
                breaches.append(f"{where}: {key} allowed")
        if seen["ping"] == 0:
            breaches.append(f"{where}: ping worked")
    one_off = results["one-off run.N"][1]
    record(
        "isolation: dynos run without privileges",
        tried="in a one-off and in web.1 (ps:exec): /proc/self/status capabilities and "
        "NoNewPrivs, uid, chown (to root, to 1000, /etc/passwd), mount(2), "
        "unshare(CLONE_NEWUSER|CLONE_NEWNS), setuid(0), raw ICMP and AF_PACKET sockets; "
        f"results: { {k: v for k, v in one_off.items() if k not in ('status', 'uid')} }",
        failures=len(breaches),
        recovery="n/a",
        command=CMD + "privileges",
    )
    assert breaches == [], (breaches, results)
    assert one_off["mount"] == "EPERM" and one_off["raw_icmp"] == "EPERM", one_off


# -- 6. limits that harm nothing else ------------------------------------------------------
class _Watch:
    """Polls app ``app`` through the router (every 0.1 s) and the API (every 0.5 s) in
    threads until the block ends; counts answers and failures."""

    def __init__(self, platform: LivePlatform, app: str) -> None:
        self.platform, self.app = platform, app
        self.token = (platform.data / "admin@example.test.token").read_text().strip()
        self.stop = threading.Event()
        self.router = [0, 0]  # total, failed
        self.api = [0, 0]
        self.errors: list[str] = []
        self.threads = [
            threading.Thread(target=self._poll, args=(self._router_ok, self.router, 0.1)),
            threading.Thread(target=self._poll, args=(self._api_ok, self.api, 0.5)),
        ]

    def _router_ok(self) -> bool:
        resp = self.platform.get(self.app)
        return resp.status_code == 200 and "tiny v1" in resp.text

    def _api_ok(self) -> bool:
        resp = httpx.get(
            f"{self.platform.api}/apps/{self.app}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        return resp.status_code == 200

    def _poll(self, check: Any, counts: list[int], every: float) -> None:
        while not self.stop.is_set():
            counts[0] += 1
            try:
                ok = check()
            except httpx.HTTPError as exc:
                ok = False
                self.errors.append(repr(exc))
            if not ok:
                counts[1] += 1
            self.stop.wait(every)

    def __enter__(self) -> _Watch:
        for t in self.threads:
            t.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()

    def summary(self) -> str:
        r_ok, a_ok = self.router[0] - self.router[1], self.api[0] - self.api[1]
        return (
            f"B answered {r_ok}/{self.router[0]} requests through the router, "
            f"the API {a_ok}/{self.api[0]}"
        )


@pytest.fixture
def watched(platform: LivePlatform, pair: tuple[str, str]) -> Iterator[_Watch]:
    platform.wait_for(pair[1], "tiny v1")
    with _Watch(platform, pair[1]) as watch:
        yield watch


FORK_BOMB = r"""
import signal
limit = cgroup("pids.max")
start = time.monotonic()
children, error = [], None
while time.monotonic() - start < 20:
    try:
        pid = os.fork()
    except OSError as exc:
        error = errno.errorcode.get(exc.errno or 0, str(exc))
        break
    if pid == 0:
        time.sleep(40)
        os._exit(0)
    children.append(pid)
at_limit = cgroup("pids.current")
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
# the classic shell bomb for 10 s, then its whole process group is killed
bomb = subprocess.Popen(["sh", "-c", "b(){ b|b& };b"], start_new_session=True,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(10)
shell_peak = cgroup("pids.current")
for _ in range(300):
    try:
        os.killpg(bomb.pid, signal.SIGKILL)
    except ProcessLookupError:
        break
    time.sleep(0.05)
bomb.wait()
time.sleep(1)
emit({"limit": limit, "forks": len(children), "error": error, "at_limit": at_limit,
      "shell_peak": shell_peak, "after": cgroup("pids.current"),
      "seconds": round(time.monotonic() - start, 1)})
"""


def test_fork_bomb_is_bounded_by_the_pids_limit_and_harms_nothing_else(
    platform: LivePlatform, pair: tuple[str, str], watched: _Watch
) -> None:
    a, b = pair
    started = time.monotonic()
    code, seen = _in_dyno(platform, a, FORK_BOMB, timeout=90)
    time.sleep(1)
    watched.finish()
    elapsed = time.monotonic() - started
    platform.moor("ps", "-a", b)  # the CLI still works
    _no_oneoffs_left(platform, a)
    limit = int(seen["limit"])
    record(
        "isolation: fork bomb in a one-off dyno",
        tried=f"python os.fork() loop: {seen['forks']} forks, then {seen['error']} at "
        f"pids.current={seen['at_limit']}/{limit}; `b(){{ b|b& }};b` for 10 s: peak "
        f"{seen['shell_peak']}, {seen['after']} left after killpg; {seen['seconds']} s in the "
        f"dyno, {elapsed:.0f} s in all; "
        "the one-off container was removed",
        failures=watched.router[1] + watched.api[1],
        recovery=watched.summary() + " during the fork bomb",
        command=CMD + "fork_bomb",
    )
    assert code == 0, seen
    assert seen["error"] == "EAGAIN" and limit == 256, seen
    assert seen["forks"] < limit and int(seen["shell_peak"]) <= limit, seen
    assert int(seen["after"]) <= 5, seen  # everything the bomb started is gone
    assert watched.router[1] == 0 and watched.api[1] == 0, (watched.summary(), watched.errors)
    assert watched.router[0] > 50 and seen["seconds"] < 60 and elapsed < 90


MEMORY_HOG = r"""
limit = int(cgroup("memory.limit_in_bytes") or cgroup("memory.max"))
HOG = '''
import sys
with open("/proc/self/oom_score_adj", "w") as fh:
    fh.write("1000")  # the OOM killer's first choice, not the dyno's reporting process
chunks = []
try:
    while len(chunks) * 16 < 2 * LIMIT_MB:
        chunks.append(b"x" * (16 << 20))  # written, so resident
        print(len(chunks) * 16, flush=True)
except MemoryError:
    print("MemoryError", flush=True)
    sys.exit(4)
sys.exit(3)
'''.replace("LIMIT_MB", str(limit >> 20))
start = time.monotonic()
hog = subprocess.Popen([sys.executable, "-c", HOG], stdout=subprocess.PIPE, text=True)
lines = [line.strip() for line in hog.stdout]
code = hog.wait(timeout=50)
sizes = [int(x) for x in lines if x.isdigit()]
emit({"limit_mb": limit >> 20, "reached_mb": max(sizes, default=0), "last": lines[-1:],
      "code": code,
      "max_usage_mb": int(cgroup("memory.max_usage_in_bytes") or 0) >> 20,
      "oom_control": (cgroup("memory.oom_control") or "").split("\n"),
      "seconds": round(time.monotonic() - start, 1)})
"""


def test_memory_hog_is_oom_killed_at_the_limit_and_harms_nothing_else(
    platform: LivePlatform, pair: tuple[str, str], watched: _Watch
) -> None:
    a, b = pair
    started = time.monotonic()
    code, seen = _in_dyno(platform, a, MEMORY_HOG, verb=("run", "--size", "eco"), timeout=90)
    time.sleep(1)
    watched.finish()
    elapsed = time.monotonic() - started
    platform.moor("ps", "-a", b)
    _no_oneoffs_left(platform, a)
    killed = seen["code"] == -9 or seen["last"] == ["MemoryError"]
    counters = dict(line.split() for line in seen["oom_control"] if len(line.split()) == 2)
    oom_kills = counters.get("oom_kill", "?")
    record(
        "isolation: memory hog in a one-off dyno",
        tried=f"16 MiB chunks up to twice the {seen['limit_mb']} MiB limit (eco): reached "
        f"{seen['reached_mb']} MiB, then exit {seen['code']} "
        f"({'OOM-killed' if seen['code'] == -9 else seen['last']}); "
        f"{oom_kills} OOM kill(s) in the dyno's cgroup, max usage {seen['max_usage_mb']} MiB; "
        f"{seen['seconds']} s in the dyno, {elapsed:.0f} s in all; "
        "the one-off container was removed",
        failures=watched.router[1] + watched.api[1] + int(not killed),
        recovery=watched.summary() + " during the memory hog",
        command=CMD + "memory_hog",
    )
    assert code == 0, seen  # the dyno's own process survived; only the hog died
    assert seen["limit_mb"] == 256 and killed, seen
    assert seen["reached_mb"] <= seen["limit_mb"] and seen["max_usage_mb"] <= 256, seen
    assert watched.router[1] == 0 and watched.api[1] == 0, (watched.summary(), watched.errors)
    assert watched.router[0] > 10 and seen["seconds"] < 60 and elapsed < 90


# -- 7. read-only root ---------------------------------------------------------------------
def test_runtime_starts_a_read_only_dyno_with_a_writable_tmp(platform: LivePlatform) -> None:
    """The runtime is the unit under test: MOORAGE_DYNO_READ_ONLY reaches it as
    ``DynoSpec.read_only`` (tests/unit/test_read_only.py covers that path)."""
    instance = f"{platform.env['MOORAGE_INSTANCE']}ro"
    runtime = DockerRuntime(instance, platform.registry, pull_token=lambda repo: "")
    app = f"ro-{os.urandom(3).hex()}"
    client = docker.from_env()
    results: dict[str, tuple[int, str]] = {}
    try:
        for number, read_only in ((1, True), (2, False)):
            spec = DynoSpec(
                app=app,
                type="worker",
                number=number,
                release=1,
                image="python:3",
                env={},
                command=["sleep", "120"],
                memory_mb=128,
                read_only=read_only,
            )
            dyno = runtime.start(spec)
            c = client.containers.get(dyno.id)
            host = c.attrs["HostConfig"]
            assert bool(host.get("ReadonlyRootfs")) is read_only
            assert (host.get("Tmpfs") or {}) == ({"/tmp": "size=64m"} if read_only else {})
            for probe in ("touch /var/tmp/x", "touch /tmp/x", "df -m /tmp | tail -1"):
                res = c.exec_run(["sh", "-c", probe])
                results[f"{'ro' if read_only else 'rw'}: {probe}"] = (
                    res.exit_code,
                    res.output.decode(errors="replace").strip(),
                )
    finally:
        for c in client.containers.list(
            all=True, filters={"label": f"moorage.instance={instance}"}
        ):
            runtime.stop(c.id or "", grace=0)
        runtime.remove_app(app)
    left = client.containers.list(all=True, filters={"label": f"moorage.instance={instance}"})
    record(
        "isolation: read-only root filesystem (runtime)",
        tried="DockerRuntime.start of a dyno with read_only=True and one without: "
        + "; ".join(f"{k} -> {v[0]}" for k, v in results.items()),
        failures=int(results["ro: touch /var/tmp/x"][0] == 0),
        recovery="n/a",
        command=CMD + "read_only",
    )
    ro_write = results["ro: touch /var/tmp/x"]
    assert ro_write[0] != 0 and "Read-only file system" in ro_write[1], results
    assert results["ro: touch /tmp/x"][0] == 0, results
    assert results["ro: df -m /tmp | tail -1"][1].startswith("tmpfs"), results
    assert results["rw: touch /var/tmp/x"][0] == 0, results  # the option is what changes it
    assert left == [] and not client.networks.list(filters={"label": f"moorage.app={app}"})
