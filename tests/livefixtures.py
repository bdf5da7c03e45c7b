"""A real platform instance for integration tests: its own data dir, ports and Docker labels.

It runs ``moor server`` as a subprocess with real Docker Engine, nginx, Docker Distribution
and PostgreSQL, and removes everything it created at the end.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container

from tests.standin import StandIn

ROOT = Path(__file__).resolve().parents[1]
# a host outside the platform, for drains and restore URLs: test platforms allow egress to it
# (MOORAGE_EGRESS_ALLOW) and to nothing else internal
OUTSIDE = "127.0.0.9"
MOOR = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "moor")
ACTORS = ROOT / "examples" / "actors"
PRIVATE_REGISTRY = "registry.private.test"  # a private registry's name, stood in for too
PRIVATE_LOGIN = ("robot", "s3cret-pull-token")


def _slot() -> int:
    """Which block of ports and loopback addresses this test process uses: a pytest-xdist
    worker's number (gw0 is 0), or one picked by pid (8-99) for a pytest of its own, so the
    workers of a run (and a bench beside it) never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        return int(worker[2:]) % 8
    return 8 + os.getpid() % 92


SLOT = _slot()
PORTS = 10000 + SLOT * 100
"""This process's 100 ports (below the kernel's ephemeral range): +0..4 the platform's API,
router, registry, PostgreSQL and HTTPS edge, +5 its DNS zone, +6 its rendezvous, +7 and +8 the
public and private stand-in registries, +9 for a test's own listener, +10..19 Redis add-ons,
+20..32 dedicated PostgreSQL clusters, +33..35 poolers, +40..49 scratch clusters."""
STANDIN_PORT = PORTS + 7  # then the private one


def _docker_ok() -> bool:
    try:
        docker.from_env().ping()
        return True
    except Exception:
        return False


@dataclass
class LivePlatform:
    data: Path
    env: dict[str, str]
    api: str
    router_port: int
    registry: str
    domain: str
    https_port: int = 0
    dns_port: int = 0  # where tests.dnszone.DnsZone answers (the platform's DNS resolver)
    server: subprocess.Popen[bytes] | None = None
    apps: set[str] = field(default_factory=set)
    swarm: Any = None  # the tests.swarm.cluster.SwarmCluster it runs on, if any

    def moor(
        self,
        *args: str,
        check: bool = True,
        cwd: Path | None = None,
        token: str | None = None,
        timeout: float = 600,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if token is not None:
            env["MOORAGE_API_KEY"] = token
        proc = subprocess.run(
            [MOOR, *args],
            capture_output=True,
            text=True,
            input=input_text,
            env=env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"moor {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.moor(*args, "--json").stdout)

    def get(self, app: str, path: str = "/") -> httpx.Response:
        return httpx.get(
            f"http://127.0.0.1:{self.router_port}{path}",
            headers={"Host": f"{app}.{self.domain}"},
            timeout=10,
        )

    def wait_for(self, app: str, text: str, timeout: float = 90) -> httpx.Response:
        deadline = time.monotonic() + timeout
        last: httpx.Response | None = None
        while time.monotonic() < deadline:
            try:
                last = self.get(app)
                if last.status_code == 200 and text in last.text:
                    return last
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"{app} never served {text!r}; last answer: "
            f"{last and last.status_code} {last and last.text[:300]}\n{self.diagnostics(app)}"
        )

    def diagnostics(self, app: str) -> str:
        """What explains an app that does not serve: its last log lines and the end of the
        shared PostgreSQL's log (a test's failure message, read once the test has failed)."""
        logs = self.moor("logs", "-n", "40", "-a", app, check=False)
        pg_log = self.data / "postgres" / "postgres.log"
        try:
            pg_tail = pg_log.read_text(errors="replace").splitlines()[-25:]
        except OSError as exc:
            pg_tail = [f"({pg_log}: {exc.strerror})"]
        return (
            f"moor logs -a {app}:\n{logs.stdout[-6000:]}{logs.stderr[-1000:]}\n"
            "the shared PostgreSQL's log ends:\n" + "\n".join(pg_tail)
        )

    def start_server(self) -> None:
        log = (self.data / "server.log").open("ab")
        self.server = subprocess.Popen(
            [MOOR, "server"], env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api}/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError(
            "moor server did not answer:\n" + (self.data / "server.log").read_text()[-3000:]
        )

    def server_died(self) -> str | None:
        """When the server this fixture started has exited on its own: its exit status and the
        end of its log (it is then started again, so one death does not fail every test)."""
        if self.server is None or self.server.poll() is None:
            return None
        code = self.server.returncode
        tail = (self.data / "server.log").read_text(errors="replace")[-6000:]
        self.server = None
        self.start_server()
        return f"moor server exited by itself with status {code}; its log ends:\n{tail}"

    def kill_server(self) -> None:
        if self.server is not None:
            os.kill(self.server.pid, signal.SIGKILL)
            self.server.wait()
            self.server = None

    def engines(self) -> list[docker.DockerClient]:
        """The engines that run this platform's dynos (this host's, or the swarm's nodes)."""
        if self.swarm is None:
            return [docker.from_env()]
        return [n.engine() for n in self.swarm.nodes if not n.lost]

    def dyno_container(self, app: str, process: str) -> Container:
        """The container of ``app``'s dyno ``process`` (``web.1``), on whichever engine."""
        if self.swarm is None:
            return docker.from_env().containers.get(f"{app}.{process}")
        kind, number = process.split(".")
        manager = self.swarm.manager.engine()
        labels = [f"moorage.app={app}", f"moorage.type={kind}", f"moorage.number={number}"]
        for svc in manager.api.services(filters={"label": labels}):
            if svc["Spec"]["Labels"].get("moorage.retiring") == "1":
                continue
            for task in manager.api.tasks(filters={"service": svc["ID"]}):
                if task["Status"]["State"] == "running":
                    node = manager.api.inspect_node(task["NodeID"])["Description"]["Hostname"]
                    engine = next(n for n in self.swarm.nodes if n.hostname == node).engine()
                    return engine.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
        raise AssertionError(f"no running {process} of {app} in the swarm")

    def new_token(self, email: str) -> str:
        out = self.data / f"{email}.token"
        self.moor("setup", "--email", email, "--token-file", str(out))
        return out.read_text().strip()

    def create_app(self, prefix: str) -> str:
        name = f"{prefix}-{os.urandom(3).hex()}"
        self.moor("apps:create", name)
        self.apps.add(name)
        return name


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def stop_cluster(pgdata: Path, *, check: bool = True) -> None:
    """``pg_ctl stop -m fast`` of the platform's PostgreSQL cluster, as the postgres user."""
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(bindir / "pg_ctl"),
            "stop",
            "-m",
            "fast",
            "-D",
            str(pgdata),
        ],
        capture_output=True,
        check=check,
    )


def _teardown(p: LivePlatform) -> None:
    # on one engine, what the apps left is removed below by the instance's label, at once
    # (an apps:destroy each took 90 s at the end of a full run); a swarm's are on its nodes
    for app in sorted(p.apps) if p.swarm is not None else ():
        p.moor("apps:destroy", "-a", app, "--confirm", app, check=False)
    p.kill_server()
    for pidfile, sig in (
        (p.data / "router" / "nginx.pid", signal.SIGQUIT),
        (p.data / "registry" / "registry.pid", signal.SIGTERM),
        *((pid, signal.SIGTERM) for pid in sorted((p.data / "redis").glob("*/redis.pid"))),
        *((pid, signal.SIGTERM) for pid in sorted(p.data.glob("pgbouncer/*/pgbouncer.pid"))),
    ):
        pid = _pid(pidfile)
        if pid:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    for pgdata in (p.data / "postgres" / "data", *p.data.glob("postgres-clusters/*/data")):
        if (pgdata / "postmaster.pid").exists():  # dedicated ones an app left behind, too
            stop_cluster(pgdata, check=False)
    shutil.rmtree(f"/etc/docker/certs.d/registry.{p.domain}:{p.https_port}", ignore_errors=True)
    client = docker.from_env()
    label = f"moorage.instance={p.env['MOORAGE_INSTANCE']}"
    # one that is gone already (404) or being removed (409) must not stop the rest
    for c in client.containers.list(all=True, filters={"label": label}, ignore_removed=True):
        with suppress(docker.errors.APIError):
            c.remove(force=True)
    for n in client.networks.list(filters={"label": label}):
        with suppress(docker.errors.APIError):
            n.remove()
    for v in client.volumes.list(filters={"label": label}):
        with suppress(docker.errors.APIError):
            v.remove(force=True)
    for image in client.images.list():  # what apps:destroy could not untag (in use then)
        refs = list(image.tags) + list(image.attrs.get("RepoDigests") or [])
        for ref in refs:
            if ref.startswith((p.registry + "/", f"registry.{p.domain}/")):
                try:
                    client.images.remove(ref, force=True)
                except docker.errors.DockerException:
                    pass
    if not os.environ.get("MOORAGE_KEEP_TEST_DATA"):  # keep it to read the logs of a failure
        shutil.rmtree(p.data, ignore_errors=True)


def in_pty(
    platform: LivePlatform,
    *args: str,
    timeout: float = 60,
    send: bytes = b"",
    after: bytes = b"",
    program: str = MOOR,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run moor (or ``program``) with its stdin/stdout on a pseudo-terminal, as a user's
    shell would; ``send`` is typed once ``after`` appeared (the client flushes earlier
    input when it puts the terminal in raw mode)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 24x80
    proc = subprocess.Popen(
        [program, *args], stdin=slave, stdout=slave, stderr=slave, env=env or platform.env
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
            if send and after in b"".join(chunks):
                os.write(master, send)
                send = b""
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=10), b"".join(chunks).decode(errors="replace")


@contextmanager
def live_platform(extra_env: dict[str, str] | None = None) -> Iterator[LivePlatform]:
    """A platform of its own (data dir, ports, instance) for this test process; ``extra_env``
    adds settings (the swarm tests choose the runtime). Everything is removed after."""
    if os.geteuid() != 0 or not _docker_ok():
        pytest.fail("integration tests need root and a running Docker Engine: run ./bin/test")
    data = Path(tempfile.mkdtemp(prefix="moorage-it-"))
    base, redis_base, pg_base = PORTS, PORTS + 10, PORTS + 20  # see PORTS
    instance = f"it{os.getpid()}"
    dns_port = PORTS + 5
    standin = STANDIN_PORT
    env = {
        **os.environ,
        "MOORAGE_DATA_DIR": str(data),
        "MOORAGE_INSTANCE": instance,
        "MOORAGE_API_PORT": str(base),
        "MOORAGE_ROUTER_PORT": str(base + 1),
        "MOORAGE_REGISTRY_PORT": str(base + 2),
        "MOORAGE_POSTGRES_PORT": str(base + 3),
        "MOORAGE_REDIS_PORTS": f"{redis_base}-{redis_base + 9}",
        "MOORAGE_POSTGRES_PORTS": f"{pg_base}-{pg_base + 12}",
        "MOORAGE_PGBOUNCER_PORTS": f"{pg_base + 13}-{pg_base + 15}",
        "MOORAGE_HTTPS_PORT": str(base + 4),
        "MOORAGE_RENDEZVOUS_PORT": str(PORTS + 6),
        # heroku ps:exec's SSH server: port 80 (the CLI's), on a loopback address of its own
        "MOORAGE_EXEC_TUNNEL": f"127.3.{SLOT}.1:80",
        "MOORAGE_DOMAIN": f"it{os.getpid()}.localhost",
        "MOORAGE_RECONCILE_INTERVAL": "1",
        "MOORAGE_BOOT_TIMEOUT": "30",
        "MOORAGE_LOGIN_WINDOW": "30",  # the login-limit tests wait it out
        "MOORAGE_REGISTRY_UPLOAD_IDLE": "20",
        "MOORAGE_EGRESS_ALLOW": f"{OUTSIDE}/32",
        "MOORAGE_DNS_RESOLVERS": f"127.0.0.1:{dns_port}",
        # public registries, stood in for on loopback (tests/standin.py)
        "MOORAGE_REGISTRY_MIRRORS": (
            f"*=http://127.0.0.1:{standin}/{{host}},"
            f"{PRIVATE_REGISTRY}=http://127.0.0.1:{standin + 1}/{{host}}"
        ),
        "MOORAGE_CREDENTIALS": str(data / "credentials.json"),
        "MOORAGE_API_URL": f"http://127.0.0.1:{base}",
        # docker's client config (container:login) of this platform alone: the workers of a
        # parallel run log in at the same moment, and ~/.docker/config.json keeps one write
        "DOCKER_CONFIG": str(data / "docker"),
        **(extra_env or {}),
    }
    env.pop("MOORAGE_API_KEY", None)
    p = LivePlatform(
        data=data,
        env=env,
        api=f"http://127.0.0.1:{base}",
        router_port=base + 1,
        registry=f"127.0.0.1:{base + 2}",
        domain=f"it{os.getpid()}.localhost",
        https_port=base + 4,
        dns_port=dns_port,
    )
    try:
        token = p.new_token("admin@example.test")
        p.start_server()
        subprocess.run(
            [MOOR, "login", "--token-stdin"],
            input=token,
            text=True,
            env=env,
            check=True,
            capture_output=True,
        )
        p.moor("container:login")
        yield p
    finally:
        _teardown(p)


@pytest.fixture(autouse=True)
def _server_stays_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test during which the shared platform's server died, with the server's log."""
    live = request.getfixturevalue("platform") if "platform" in request.fixturenames else None
    yield
    died = live.server_died() if isinstance(live, LivePlatform) else None
    if died:
        pytest.fail(died)


@pytest.fixture(scope="session")
def platform() -> Iterator[LivePlatform]:
    """The platform on the docker runtime, or with ``MOORAGE_TEST_RUNTIME=swarm`` on a swarm
    of ``MOORAGE_TEST_SWARM_NODES`` (default 3) engines on this machine."""
    if os.environ.get("MOORAGE_TEST_RUNTIME", "docker") != "swarm":
        with live_platform() as p:
            yield p
        return
    from tests.swarm.cluster import swarm_cluster

    count = int(os.environ.get("MOORAGE_TEST_SWARM_NODES", "3"))
    with swarm_cluster(count, f"it{os.getpid()}.localhost") as cluster:
        with live_platform(cluster.env()) as p:
            cluster.trust(f"registry.{p.domain}:{p.https_port}", p.data / "tls" / "ca.crt")
            p.swarm = cluster
            yield p


@pytest.fixture(scope="session")
def standin() -> Iterator[StandIn]:
    """The stand-in for public registries the test platform pulls prebuilt images from."""
    registry = StandIn(STANDIN_PORT)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture(scope="session")
def private_standin() -> Iterator[StandIn]:
    """A private registry (``registry.private.test`` through the mirror setting)."""
    registry = StandIn(STANDIN_PORT + 1, login=PRIVATE_LOGIN)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture(scope="session")
def actors(platform: LivePlatform) -> str:
    """The actors app deployed from the article's Kubernetes Dockerfile, on a Postgres add-on."""
    app = platform.create_app("actors")
    platform.moor("addons:create", "postgresql", "-a", app)
    platform.moor("ps:port", "web", "5000", "-a", app)
    platform.moor("container:push", "web", "-a", app, cwd=ACTORS)
    platform.moor("container:release", "web", "-a", app, cwd=ACTORS)
    return app
