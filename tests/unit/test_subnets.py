"""The platform's subnet pool: small blocks, never one in use, the same one again."""

from __future__ import annotations

import time
from collections.abc import Iterable
from ipaddress import IPv4Network
from pathlib import Path
from types import SimpleNamespace

import docker.errors
import pytest
from docker.types import IPAMConfig

from moorage.errors import AddressesExhausted
from moorage.runtime.subnets import SubnetPool, ensure_network, host_routes
from moorage.settings import Settings

N = IPv4Network

# /proc/net/route: a default route, a LAN 10.192.1.0/24 and Docker's bridge 172.17.0.0/16
ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0101C00A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0001C00A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


class DictLedger:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, float]] = {}

    def recorded(self) -> dict[str, tuple[str, float]]:
        return dict(self.rows)

    def record(self, name: str, subnet: str) -> None:
        self.rows[name] = (subnet, time.time())

    def forget(self, names: Iterable[str]) -> None:
        for name in names:
            self.rows.pop(name, None)


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    path = tmp_path / "route"
    path.write_text(ROUTES)
    return path


def test_host_routes_leave_out_the_default(routes: Path) -> None:
    assert host_routes(routes) == [N("10.192.1.0/24"), N("172.17.0.0/16")]
    assert host_routes(routes.with_name("missing")) == []


def test_blocks_in_order_skipping_routes_and_networks_in_use(routes: Path) -> None:
    pool = SubnetPool(N("10.192.0.0/16"), 24, DictLedger(), routes)
    existing = {"someone-elses": [N("10.192.2.0/23")]}  # 10.192.2.0 and 10.192.3.0
    got = [pool.subnet_for(f"net{i}", existing) for i in range(3)]
    assert got == [N("10.192.0.0/24"), N("10.192.4.0/24"), N("10.192.5.0/24")]
    assert pool.ledger.recorded()["net1"][0] == "10.192.4.0/24"


def test_a_network_made_again_gets_its_block_again(routes: Path) -> None:
    pool = SubnetPool(N("10.192.0.0/16"), 24, DictLedger(), routes)
    first = pool.subnet_for("a", {})
    pool.subnet_for("b", {"a": [first]})
    assert pool.subnet_for("a", {}) == first  # not made yet, or made again after a crash


class ReservingEngine:
    """Docker's network calls as another platform's pending create leaves them: the engine
    refuses the ``reserved`` blocks as overlapping but does not list them yet."""

    def __init__(self, reserved: list[str]) -> None:
        self.reserved = [N(b) for b in reserved]
        self.made: list[str] = []
        self.networks = self

    def list(self, names: list[str] | None = None) -> list[object]:
        return []

    def create(self, name: str, ipam: IPAMConfig, **options: object) -> SimpleNamespace:
        block = N(ipam["Config"][0]["Subnet"])
        if any(block.overlaps(r) for r in self.reserved):
            raise docker.errors.APIError(
                "403 Client Error: Forbidden (Pool overlaps with other one on this address space)"
            )
        self.made.append(str(block))
        return SimpleNamespace(id=f"id-{name}")


def test_a_block_the_engine_refuses_is_not_tried_again(routes: Path) -> None:
    pool = SubnetPool(N("10.192.0.0/16"), 24, DictLedger(), routes)
    engine = ReservingEngine(["10.192.0.0/24", "10.192.2.0/24"])
    assert ensure_network(engine, pool, "app") == "id-app"  # type: ignore[arg-type]
    assert engine.made == ["10.192.3.0/24"]  # .1 is the host's LAN (ROUTES)


def test_stale_records_are_released(routes: Path) -> None:
    ledger = DictLedger()
    pool = SubnetPool(N("10.192.0.0/16"), 24, ledger, routes)
    pool.subnet_for("gone", {})
    assert pool.subnet_for("new", {}) == N("10.192.2.0/24")  # "gone" is fresh: kept
    ledger.rows["gone"] = (ledger.rows["gone"][0], time.time() - 120)
    assert pool.subnet_for("newer", {"new": [N("10.192.2.0/24")]}) == N("10.192.0.0/24")
    assert "gone" not in ledger.rows


def test_exhaustion_names_the_setting(routes: Path) -> None:
    pool = SubnetPool(N("10.192.0.0/22"), 24, DictLedger(), routes)  # four blocks, one a LAN
    for i in range(3):
        pool.subnet_for(f"n{i}", {})
    with pytest.raises(AddressesExhausted) as err:
        pool.subnet_for("one-too-many", {})
    assert "MOORAGE_SUBNET_POOL=10.192.0.0/22" in str(err.value)
    assert "4 of 4 in use" in str(err.value)


def test_four_thousand_apps_fit_the_default_pool(tmp_path: Path) -> None:
    settings = Settings.from_env({})
    pool, size = settings.subnet_pool, settings.subnet_size
    ledger = DictLedger()
    blocks = list(pool.subnets(new_prefix=size))
    assert len(blocks) == 16384
    ledger.rows = {f"app{i}": (str(b), time.time()) for i, b in enumerate(blocks[:3999])}
    subnets = SubnetPool(pool, size, ledger, tmp_path / "none")
    assert subnets.subnet_for("app3999", {}) == N("10.207.159.0/24")  # the 4,000th block


@pytest.mark.parametrize(
    ("base", "size", "why"),
    [
        ("10.300.0.0/10", "24", "is not an IPv4 network"),
        ("10.192.0.0/10", "big", "is not a prefix length"),
        ("10.192.0.0/16", "12", "must be from /16"),
        ("10.192.0.0/16", "30", "to /28"),
    ],
)
def test_bad_settings_say_what_is_wrong(base: str, size: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Settings.from_env({"MOORAGE_SUBNET_POOL": base, "MOORAGE_SUBNET_SIZE": size})
