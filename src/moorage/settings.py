"""Platform settings, read once from the environment (``MOORAGE_*``)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from moorage.egress import Network, parse_allow
from moorage.registry.mirrors import Mirror, parse_mirrors


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/moorage")
    return Path.home() / ".local" / "share" / "moorage"


@dataclass(frozen=True)
class Settings:
    """Where the platform keeps its state and which loopback ports it uses."""

    data_dir: Path
    database_url: str
    domain: str
    instance: str
    api_host: str
    api_port: int
    router_port: int
    registry_port: int
    postgres_port: int
    reconcile_interval: float
    boot_timeout: float
    drain_ca_file: str | None = None  # extra CA for syslog+tls:// and https:// drains
    redis_ports: range = range(7600, 7700)  # one port per redis add-on
    postgres_ports: range = range(7440, 7540)  # one per dedicated postgresql add-on
    pgbouncer_ports: range = range(7540, 7600)  # one per pooled postgresql add-on
    backup_dir: Path | None = None  # pg backups; default <data_dir>/backups
    https_port: int = 443  # TLS at the edge (api., registry., apps); 0: none
    dyno_read_only: bool = False  # read-only root filesystem, writable tmpfs on /tmp
    registry_upload_idle: float = 300.0  # seconds before an abandoned push's upload is removed
    login_window: float = 60.0  # seconds an address is refused after 20 failed logins in it
    runtime: str = "docker"  # "docker" (one host) or "swarm"
    swarm_engine: str = ""  # the Swarm manager's engine (default: the local one)
    swarm_registry: str = ""  # the registry as nodes name it (default: registry.<domain>)
    swarm_node_engines: dict[str, str] = field(default_factory=dict)  # hostname -> engine URL
    swarm_addon_address: str = ""  # where dynos on any node reach add-ons (default: docker0)
    # internal networks drains and restore URLs may reach (default: public addresses only)
    egress_allow: tuple[Network, ...] = ()
    # DNS servers ("host" or "host:port") that custom-domain proofs are looked up at;
    # empty: the system's (/etc/resolv.conf)
    dns_resolvers: tuple[str, ...] = ()
    # route a custom domain only once DNS proved its owner (else: until someone else proves it)
    domains_need_proof: bool = False
    # registry host -> mirror the platform pulls prebuilt images from first
    registry_mirrors: dict[str, Mirror] = field(default_factory=dict)
    image_pull_timeout: float = 1800.0  # seconds a copy of a prebuilt image may take
    # `heroku run`'s TLS rendezvous (rendezvous.<domain>:port); 0: none
    rendezvous_port: int = 5000
    rendezvous_bind: str = "0.0.0.0"  # the CLI connects from anywhere
    # `heroku ps:exec`'s SSH server: "host:port" the CLI connects to (it always uses port 80;
    # the host is an address of its own so that it never collides with the router); "": off
    exec_tunnel: str = "127.0.0.3:80"
    # where app, group and overlay networks get their subnets (moorage.runtime.subnets)
    subnet_pool: ipaddress.IPv4Network = field(
        default_factory=lambda: ipaddress.IPv4Network("10.192.0.0/10")
    )
    subnet_size: int = 24
    # `git push` builds: seconds a whole build may take (then it is stopped), memory of each
    # build step's container, builds running at once (more wait in line), deploy branches
    build_timeout: float = 900.0
    build_memory: int = 2 << 30
    build_workers: int = 1
    deploy_branches: tuple[str, ...] = ("main", "master")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        data_dir = Path(e.get("MOORAGE_DATA_DIR") or _default_data_dir())
        pool, size = _subnet_pool(
            e.get("MOORAGE_SUBNET_POOL", "10.192.0.0/10"), e.get("MOORAGE_SUBNET_SIZE", "24")
        )
        return cls(
            data_dir=data_dir,
            database_url=e.get("MOORAGE_DATABASE_URL") or f"sqlite:///{data_dir / 'state.db'}",
            domain=e.get("MOORAGE_DOMAIN", "moorage.localhost"),
            instance=e.get("MOORAGE_INSTANCE", "default"),
            api_host=e.get("MOORAGE_API_HOST", "127.0.0.1"),
            api_port=int(e.get("MOORAGE_API_PORT", "7070")),
            router_port=int(e.get("MOORAGE_ROUTER_PORT", "7080")),
            registry_port=int(e.get("MOORAGE_REGISTRY_PORT", "7050")),
            postgres_port=int(e.get("MOORAGE_POSTGRES_PORT", "7432")),
            reconcile_interval=float(e.get("MOORAGE_RECONCILE_INTERVAL", "2")),
            boot_timeout=float(e.get("MOORAGE_BOOT_TIMEOUT", "60")),
            login_window=float(e.get("MOORAGE_LOGIN_WINDOW", "60")),
            drain_ca_file=e.get("MOORAGE_DRAIN_CA_FILE") or None,
            redis_ports=_port_range(e.get("MOORAGE_REDIS_PORTS", "7600-7699")),
            postgres_ports=_port_range(e.get("MOORAGE_POSTGRES_PORTS", "7440-7539")),
            pgbouncer_ports=_port_range(e.get("MOORAGE_PGBOUNCER_PORTS", "7540-7599")),
            backup_dir=Path(e["MOORAGE_BACKUP_DIR"]) if e.get("MOORAGE_BACKUP_DIR") else None,
            https_port=int(e.get("MOORAGE_HTTPS_PORT", "443")),
            dyno_read_only=_flag("MOORAGE_DYNO_READ_ONLY", e.get("MOORAGE_DYNO_READ_ONLY", "")),
            registry_upload_idle=float(e.get("MOORAGE_REGISTRY_UPLOAD_IDLE", "300")),
            rendezvous_port=int(e.get("MOORAGE_RENDEZVOUS_PORT", "5000")),
            rendezvous_bind=e.get("MOORAGE_RENDEZVOUS_BIND", "0.0.0.0"),
            exec_tunnel=e.get("MOORAGE_EXEC_TUNNEL", "127.0.0.3:80"),
            subnet_pool=pool,
            subnet_size=size,
            runtime=_runtime(e.get("MOORAGE_RUNTIME", "docker")),
            swarm_engine=e.get("MOORAGE_SWARM_ENGINE", ""),
            swarm_registry=e.get("MOORAGE_SWARM_REGISTRY", ""),
            swarm_node_engines=_engines(e.get("MOORAGE_SWARM_NODE_ENGINES", "")),
            swarm_addon_address=e.get("MOORAGE_SWARM_ADDON_ADDRESS", ""),
            egress_allow=parse_allow(e.get("MOORAGE_EGRESS_ALLOW", "")),
            dns_resolvers=_resolvers(e.get("MOORAGE_DNS_RESOLVERS", "")),
            registry_mirrors=parse_mirrors(e.get("MOORAGE_REGISTRY_MIRRORS", "")),
            image_pull_timeout=float(e.get("MOORAGE_IMAGE_PULL_TIMEOUT", "1800")),
            domains_need_proof=_flag(
                "MOORAGE_DOMAINS_NEED_PROOF", e.get("MOORAGE_DOMAINS_NEED_PROOF", "")
            ),
            build_timeout=_positive("MOORAGE_BUILD_TIMEOUT", e.get("MOORAGE_BUILD_TIMEOUT", "900")),
            build_memory=_size("MOORAGE_BUILD_MEMORY", e.get("MOORAGE_BUILD_MEMORY", "2g")),
            build_workers=_count("MOORAGE_BUILD_WORKERS", e.get("MOORAGE_BUILD_WORKERS", "1")),
            deploy_branches=_branches(e.get("MOORAGE_DEPLOY_BRANCHES", "main,master")),
        )

    @property
    def backups(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def registry_host(self) -> str:
        """The registry as image references name it (loopback: no TLS needed by Docker)."""
        return f"127.0.0.1:{self.registry_port}"

    @property
    def node_registry(self) -> str:
        """The registry as Swarm nodes pull from it: through the edge, with the platform CA."""
        return self.swarm_registry or self.public_registry

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def heroku_host(self) -> str:
        """What to give the Heroku CLI as ``HEROKU_HOST``: it calls ``https://api.<it>``."""
        return self.domain if self.https_port == 443 else f"{self.domain}:{self.https_port}"

    @property
    def public_api_url(self) -> str:
        return f"https://api.{self.heroku_host}"

    @property
    def public_registry(self) -> str:
        """The registry behind the edge (``registry.<domain>``), for docker and the CLI."""
        return f"registry.{self.heroku_host}"

    def git_url(self, app: str) -> str:
        """The app's git remote: ``git.<domain>`` through the edge, else the API's own."""
        if self.https_port:
            return f"https://git.{self.heroku_host}/{app}.git"
        return f"{self.api_url}/git/{app}.git"

    def app_host(self, app: str) -> str:
        return f"{app}.{self.domain}"

    def web_url(self, app: str) -> str:
        """HTTPS through the edge when it is on, else plain HTTP on the router's port."""
        if self.https_port:
            port = "" if self.https_port == 443 else f":{self.https_port}"
            return f"https://{self.app_host(app)}{port}/"
        port = "" if self.router_port == 80 else f":{self.router_port}"
        return f"http://{self.app_host(app)}{port}/"


def _flag(name: str, text: str) -> bool:
    """``1``/``true``/``yes``/``on`` -> True, ``0``/``false``/``no``/``off``/unset -> False."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={text!r} is not a boolean; use 1 or 0")


def _positive(name: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"{name}={text!r} is not a positive number")
    return value


def _count(name: str, text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{name}={text!r} is not a whole number of at least 1")
    return int(text)


SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _size(name: str, text: str) -> int:
    """``"512m"``, ``"2g"``, ``"1048576"`` -> bytes (at least 6 MiB, Docker's own minimum)."""
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    number, unit = value.rstrip("kmg"), value[len(value.rstrip("kmg")) :]
    if not number.isdigit() or unit not in SIZE_UNITS:
        raise ValueError(f"{name}={text!r} is not a size like 512m or 2g")
    size = int(number) * SIZE_UNITS[unit]
    if size < 6 << 20:
        raise ValueError(f"{name}={text!r} is below Docker's minimum of 6m")
    return size


def _branches(text: str) -> tuple[str, ...]:
    """``"main,master"`` -> ("main", "master"): the branches whose pushes deploy."""
    out = tuple(filter(None, (part.strip() for part in text.split(","))))
    for branch in out:
        if branch.startswith(("-", "/", "refs/")) or any(c in branch for c in " ~^:?*[\\"):
            raise ValueError(
                f"MOORAGE_DEPLOY_BRANCHES item {branch!r} is not a branch name (e.g. main)"
            )
    if not out:
        raise ValueError("MOORAGE_DEPLOY_BRANCHES is empty; name a branch, e.g. main,master")
    return out


def _runtime(text: str) -> str:
    value = text.strip().lower() or "docker"
    if value not in ("docker", "swarm"):
        raise ValueError(f"MOORAGE_RUNTIME={text!r} is not a runtime; use docker or swarm")
    return value


def _resolvers(text: str) -> tuple[str, ...]:
    """``"10.0.0.53,127.0.0.1:5353"`` -> ("10.0.0.53", "127.0.0.1:5353"), each checked."""
    out = tuple(filter(None, (part.strip() for part in text.split(","))))
    for item in out:
        host, port = resolver_address(item)
        if not port.isdigit() or not _is_address(host):
            raise ValueError(
                f"MOORAGE_DNS_RESOLVERS item {item!r} is not an address[:port] "
                "(e.g. 10.0.0.53 or 127.0.0.1:5353)"
            )
    return out


def resolver_address(item: str) -> tuple[str, str]:
    """``"10.0.0.53"`` -> ("10.0.0.53", "53"); ``"127.0.0.1:5353"`` -> its host and port (an
    IPv6 address has no port here)."""
    host, _, port = item.rpartition(":") if item.count(":") == 1 else (item, "", "53")
    return host, port


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _engines(text: str) -> dict[str, str]:
    """``"node-2=tcp://10.0.0.2:2376,node-3=unix:///run/n3.sock"`` -> {hostname: URL}."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, sep, url = item.partition("=")
        if not sep or not host or not url:
            raise ValueError(
                f"MOORAGE_SWARM_NODE_ENGINES item {item!r} is not hostname=URL "
                "(e.g. node-2=tcp://10.0.0.2:2376)"
            )
        out[host.strip()] = url.strip()
    return out


def _port_range(text: str) -> range:
    """``"7600-7699"`` -> range(7600, 7700)."""
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise ValueError(f"MOORAGE_REDIS_PORTS={text!r} is not a range like 7600-7699") from None
    return range(first, last + 1)


def _subnet_pool(base: str, size: str) -> tuple[ipaddress.IPv4Network, int]:
    """``MOORAGE_SUBNET_POOL`` and ``MOORAGE_SUBNET_SIZE``, checked."""
    try:
        pool = ipaddress.IPv4Network(base.strip())
    except ValueError:
        raise ValueError(
            f"MOORAGE_SUBNET_POOL={base!r} is not an IPv4 network like 10.192.0.0/10"
        ) from None
    try:
        prefix = int(size.strip().lstrip("/"))
    except ValueError:
        raise ValueError(f"MOORAGE_SUBNET_SIZE={size!r} is not a prefix length like 24") from None
    if not pool.prefixlen <= prefix <= 28:
        raise ValueError(
            f"MOORAGE_SUBNET_SIZE=/{prefix} must be from /{pool.prefixlen} (the pool's own "
            "size) to /28 (11 dynos)"
        )
    return pool, prefix
