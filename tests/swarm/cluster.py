"""A Docker Swarm of several engines on this one machine, for the swarm runtime's tests.

Each node is a container of ``moorage/swarm-node:test`` (the stack image with Debian's
docker.io, see ``node/``) running its own dockerd. This host's engine cannot give a container
every capability (``--privileged`` fails: CAP_SYS_RESOURCE is not in its bounding set), so
nodes get every other capability, no seccomp/AppArmor profile and writable /sys and cgroups.
Nodes reach this host (the edge, PostgreSQL) at their network's gateway; the platform talks
to each engine over a socket in a host directory.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

NODE_IMAGE = "moorage/swarm-node:test"
NODE_DIR = Path(__file__).parent / "node"
CAPS = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
    "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
    "SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE "
    "MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ"
).split()


@dataclass
class SwarmNode:
    name: str  # the container's name on this host
    hostname: str  # the node's name in the swarm
    root: Path  # host directory with its socket (run/) and registry CAs (certs.d/)
    ip: str = ""
    lost: bool = False  # killed by a test

    @property
    def url(self) -> str:
        return f"unix://{self.root / 'run' / 'docker.sock'}"

    def engine(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=120)


@dataclass
class SwarmCluster:
    tag: str
    network: str
    gateway: str
    nodes: list[SwarmNode] = field(default_factory=list)

    @property
    def manager(self) -> SwarmNode:
        return self.nodes[0]

    def env(self) -> dict[str, str]:
        """The platform's settings for this swarm."""
        others = ",".join(f"{n.hostname}={n.url}" for n in self.nodes[1:])
        return {
            "MOORAGE_RUNTIME": "swarm",
            "MOORAGE_SWARM_ENGINE": self.manager.url,
            "MOORAGE_SWARM_NODE_ENGINES": others,
        }

    def trust(self, registry: str, ca: Path) -> None:
        """Let every node's engine trust the platform CA for ``registry`` (certs.d)."""
        for n in self.nodes:
            d = n.root / "certs.d" / registry
            d.mkdir(parents=True, exist_ok=True)
            shutil.copy(ca, d / "ca.crt")

    def kill_engine(self, node: SwarmNode) -> None:
        """SIGKILL the node's dockerd and everything it runs: the host is gone."""
        docker.from_env().containers.get(node.name).kill()
        node.lost = True


def build_node_image(client: docker.DockerClient) -> None:
    try:
        client.images.build(path=str(NODE_DIR), tag=NODE_IMAGE, rm=True, forcerm=True)
    except docker.errors.BuildError as exc:
        log = "".join(str(x.get("stream", "")) for x in exc.build_log)
        raise AssertionError(f"building {NODE_IMAGE} failed: {exc}\n{log[-3000:]}") from exc


def _start_node(
    client: docker.DockerClient, cluster: SwarmCluster, i: int, hosts: dict[str, str]
) -> SwarmNode:
    node = SwarmNode(
        name=f"{cluster.tag}-node-{i}",
        hostname=f"{cluster.tag}-node-{i}",
        root=Path(tempfile.mkdtemp(prefix=f"{cluster.tag}-node-{i}-")),
    )
    cluster.nodes.append(node)  # removed at the end even if it never starts
    (node.root / "run").mkdir()
    (node.root / "certs.d").mkdir()
    # the CLI, not docker-py: systempaths=unconfined (writable /proc/sys) has no docker-py
    # argument
    argv = ["docker", "run", "-d", "--name", node.name, "--hostname", node.hostname]
    argv += ["--network", cluster.network, "--label", f"moorage.test-swarm={cluster.tag}"]
    argv += [f"--cap-add={cap}" for cap in CAPS]
    for opt in ("seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"):
        argv += ["--security-opt", opt]
    argv += ["--device-cgroup-rule", "a *:* rwm", "-e", f"NODE_BIP=10.213.{i}.1/24"]
    argv += [f"--add-host={name}:{ip}" for name, ip in hosts.items()]
    argv += ["-v", f"{node.root / 'run'}:/moorage/run"]
    argv += ["-v", f"{node.root / 'certs.d'}:/etc/docker/certs.d:ro"]
    argv += ["--mount", "type=volume,dst=/var/lib/docker", NODE_IMAGE]
    subprocess.run(argv, check=True, capture_output=True)
    c = client.containers.get(node.name)
    node.ip = c.attrs["NetworkSettings"]["Networks"][cluster.network]["IPAddress"]
    return node


def _wait_engine(node: SwarmNode, timeout: float = 60) -> docker.DockerClient:
    deadline = time.monotonic() + timeout
    while True:
        try:
            engine = node.engine()
            engine.ping()
            return engine
        except docker.errors.DockerException:
            if time.monotonic() > deadline:
                out = subprocess.run(
                    ["docker", "logs", "--tail", "30", node.name], capture_output=True, text=True
                )
                msg = f"{node.name}'s engine never answered:\n{out.stderr}"
                raise AssertionError(msg) from None
            time.sleep(0.5)


@contextmanager
def swarm_cluster(count: int, domain: str) -> Iterator[SwarmCluster]:
    """``count`` nodes (the first one the manager) in a swarm; ``registry.<domain>`` and
    ``api.<domain>`` resolve to this host on every node. Removed afterwards."""
    client = docker.from_env()
    build_node_image(client)
    tag = f"mswarm{time.monotonic_ns() % 10**6}"
    net = client.networks.create(tag, driver="bridge", labels={"moorage.test-swarm": tag})
    net.reload()
    gateway = net.attrs["IPAM"]["Config"][0]["Gateway"]
    cluster = SwarmCluster(tag=tag, network=tag, gateway=gateway)
    hosts = {f"registry.{domain}": gateway, f"api.{domain}": gateway}
    try:
        for i in range(1, count + 1):
            _start_node(client, cluster, i, hosts)
        manager = _wait_engine(cluster.manager)
        manager.swarm.init(advertise_addr=cluster.manager.ip, default_addr_pool=["10.215.0.0/16"])
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        for node in cluster.nodes[1:]:
            _wait_engine(node).swarm.join([f"{cluster.manager.ip}:2377"], token)
        deadline = time.monotonic() + 60
        while sum(n["Status"]["State"] == "ready" for n in manager.api.nodes()) < count:
            assert time.monotonic() < deadline, manager.api.nodes()
            time.sleep(0.5)
        yield cluster
    finally:
        for c in client.containers.list(all=True, filters={"label": f"moorage.test-swarm={tag}"}):
            c.remove(force=True, v=True)
        net.remove()
        for node in cluster.nodes:
            shutil.rmtree(node.root, ignore_errors=True)
