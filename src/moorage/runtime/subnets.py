"""Addresses the platform owns: a subnet for every app, group and overlay network.

Docker gives a network made without a subnet one of its default pools (a /16 or a /20 of
172.17-31.x and 192.168.x), about 31 in all: the 31st app's network then fails. The platform
therefore hands out small subnets itself, from ``MOORAGE_SUBNET_POOL`` (default
``10.192.0.0/10``) in blocks of ``MOORAGE_SUBNET_SIZE`` (default ``/24``: 16,384 networks of
up to 253 dynos each), the way Docker's own ``default-address-pools`` setting works.

What a subnet is given to is recorded in the state store (a :class:`Ledger`), so a network
made again after a crash gets the same block. A block is never handed out while anything
else uses it: every network the engine knows (other platforms' too, and networks made
before this setting existed, which keep their Docker-chosen subnets) and every route of this
host (its LANs, VPNs, Docker bridges). A record whose network no longer exists is released
at the next allocation (once older than a minute, so a network being made is not lost): an
app's subnets go back to the pool when the app goes.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, Protocol

import docker
import docker.errors
from docker.types import IPAMConfig, IPAMPool

from moorage.errors import AddressesExhausted, RuntimeFailure

ATTEMPTS = 20
"""Blocks :func:`ensure_network` tries before it gives up (each refused one is skipped)."""
STALE_SECONDS = 60.0
"""A record whose network is missing for this long is released."""


class Ledger(Protocol):
    """Where allocations are kept (the state store; a dict in unit tests)."""

    def recorded(self) -> dict[str, tuple[str, float]]:
        """network name -> (subnet, time recorded)."""
        ...

    def record(self, name: str, subnet: str) -> None: ...

    def forget(self, names: Iterable[str]) -> None: ...


@dataclass
class SubnetPool:
    """Hands out the blocks of ``pool`` (see the module docstring)."""

    pool: IPv4Network
    size: int
    ledger: Ledger
    routes: Path = Path("/proc/net/route")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def subnet_for(
        self,
        name: str,
        existing: dict[str, list[IPv4Network]],
        refused: Iterable[IPv4Network] = (),
    ) -> IPv4Network:
        """The block for network ``name``, given the engine's ``existing`` networks
        (name -> subnets) and the blocks the engine ``refused`` it just now; recorded before
        it is returned."""
        with self._lock:
            rows = self.ledger.recorded()
            now = time.time()
            stale = [
                n
                for n, (_, at) in rows.items()
                if n != name and n not in existing and now - at > STALE_SECONDS
            ]
            self.ledger.forget(stale)
            taken = [s for n, nets in existing.items() if n != name for s in nets]
            taken += [_parse(c) for n, (c, _) in rows.items() if n != name and n not in stale]
            taken += host_routes(self.routes)
            taken += refused
            mine = rows.get(name)
            if mine is not None:
                block = _parse(mine[0])
                if not any(block.overlaps(t) for t in taken):
                    return block
            block = self._first_free(taken)
            self.ledger.record(name, str(block))
            return block

    def _first_free(self, taken: list[IPv4Network]) -> IPv4Network:
        step = 1 << (32 - self.size)
        base = int(self.pool.network_address)
        count = 1 << (self.size - self.pool.prefixlen)
        end = base + count * step - 1
        blocked: set[int] = set()  # block numbers within the pool
        for t in taken:
            low, high = int(t.network_address), int(t.broadcast_address)
            if high < base or low > end:
                continue
            first, last = (max(low, base) - base) // step, (min(high, end) - base) // step
            blocked.update(range(first, last + 1))
        for i in range(count):
            if i not in blocked:
                return IPv4Network((base + i * step, self.size))
        raise AddressesExhausted(
            f"No free /{self.size} subnet is left in MOORAGE_SUBNET_POOL={self.pool} "
            f"({len(blocked)} of {count} in use or overlapping this host's networks). Set "
            "MOORAGE_SUBNET_POOL to a larger private range no host network uses, or "
            "MOORAGE_SUBNET_SIZE to smaller blocks, and restart moor server."
        )


@functools.lru_cache(maxsize=65536)
def _parse(cidr: str) -> IPv4Network:
    return IPv4Network(cidr)


def ensure_network(
    client: docker.DockerClient, pool: SubnetPool | None, name: str, **options: Any
) -> str:
    """The id of network ``name``, made with ``options`` (driver, labels...) and a block of
    ``pool`` if there is none yet (without a pool: Docker's own default pools). The oldest
    wins if two were made at once. Callers serialise calls for the same name.

    Another platform on this engine may be making a network in the block chosen: Docker
    reserves the block at once but lists the network only when it is made, so a block the
    engine refuses is not tried again (the same block was refused five times in a row)."""
    refused: list[IPv4Network] = []
    for _ in range(ATTEMPTS):
        # every dyno start asks: look the name up alone, list all networks only to make it
        named = [n for n in client.networks.list(names=[name]) if n.name == name]
        if named:
            return str(min(named, key=lambda n: str(n.attrs.get("Created", ""))).id)
        nets = client.networks.list()
        ipam = None
        if pool is not None:
            block = pool.subnet_for(name, {str(n.name): _subnets(n.attrs) for n in nets}, refused)
            ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(block))])
        try:
            return str(client.networks.create(name, ipam=ipam, **options).id)
        except docker.errors.APIError as exc:
            if "overlap" not in str(exc):
                raise
            if ipam is not None:  # another platform on this engine took it: pick another
                refused.append(block)
    raise RuntimeFailure(f"Cannot create network {name}: every subnet tried was taken meanwhile")


def _subnets(attrs: dict[str, Any]) -> list[IPv4Network]:
    out: list[IPv4Network] = []
    for config in (attrs.get("IPAM") or {}).get("Config") or []:
        try:
            net = ipaddress.ip_network(str(config.get("Subnet", "")), strict=False)
        except ValueError:
            continue
        if isinstance(net, IPv4Network):
            out.append(net)
    return out


def host_routes(path: Path = Path("/proc/net/route")) -> list[IPv4Network]:
    """The IPv4 destinations this host routes to (not the default route)."""
    try:
        text = path.read_text()
    except OSError:
        return []
    out: list[IPv4Network] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = socket.inet_ntoa(struct.pack("<L", int(fields[1], 16)))
            mask = socket.inet_ntoa(struct.pack("<L", int(fields[7], 16)))
            net = IPv4Network(f"{dest}/{mask}", strict=False)
        except (ValueError, struct.error):
            continue
        if net.prefixlen:
            out.append(net)
    return out
