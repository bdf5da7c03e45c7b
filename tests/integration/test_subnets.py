"""Networks get small subnets from the platform's pool on a real Docker Engine: more apps
than Docker's ~31 default pools allow, each in its own block, recorded in the state store
and released once the network is gone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from ipaddress import IPv4Network
from pathlib import Path

import docker
import pytest
from sqlalchemy import update

from moorage.runtime.docker import DockerRuntime
from moorage.runtime.subnets import SubnetPool
from moorage.server.addresses import StoreLedger
from moorage.server.store.db import Store, upgrade
from moorage.server.store.models import NetworkSubnet

POOL = IPv4Network("10.192.0.0/10")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[DockerRuntime]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    pool = SubnetPool(POOL, 24, StoreLedger(Store(url)))
    rt = DockerRuntime(f"subnets{os.getpid()}", "127.0.0.1:1", lambda repo: "", subnet_pool=pool)
    yield rt
    client = docker.from_env()
    for net in client.networks.list(filters={"label": f"moorage.instance={rt.instance}"}):
        net.remove()


def test_forty_app_networks_each_get_a_block_of_the_pool(runtime: DockerRuntime) -> None:
    client = docker.from_env()
    made = [runtime._ensure_network(f"app{i}") for i in range(40)]
    subnets = []
    for net_id in made:
        config = client.networks.get(net_id).attrs["IPAM"]["Config"]
        subnets.append(IPv4Network(config[0]["Subnet"]))
    assert len(set(subnets)) == 40
    assert all(s.prefixlen == 24 and s.subnet_of(POOL) for s in subnets)
    assert runtime._ensure_network("app0") == made[0]  # found again, not made twice
    assert runtime.subnets is not None
    ledger = runtime.subnets.ledger
    assert isinstance(ledger, StoreLedger)
    name = runtime.network_name("app7")
    assert ledger.recorded()[name][0] == str(subnets[7])
    # The app goes: its network is removed. Its record is released at the next allocation
    # once a minute old (a record younger than that may belong to a network being made).
    runtime.remove_app("app7")
    with ledger.store.session() as s:
        s.execute(update(NetworkSubnet).values(created_at=datetime(2000, 1, 1)))
    runtime._ensure_network("app40")
    assert name not in ledger.recorded()
    assert len(ledger.recorded()) == 40
