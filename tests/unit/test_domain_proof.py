"""Custom domains' DNS proofs, with DNS answered by a dictionary at the lookup seam (the
real thing, dnsmasq, is in tests/security/test_domain_proof.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moorage.errors import DnsUnreachable
from moorage.registry.tokens import TokenIssuer, ensure_signing_key
from moorage.server.app import create_app
from moorage.server.background.reconciler import Reconciler
from moorage.server.platform import Platform, open_logs, prepare_store
from moorage.server.services.domainproof import Prover, parents
from moorage.settings import Settings
from tests.unit.conftest import make_token
from tests.unit.fakes import FakeRegistry, FakeRouter, FakeRuntime


class Dns:
    """TXT records by name; ``down`` makes every lookup fail as an unreachable resolver."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.down = False
        self.asked = 0

    def __call__(self, name: str, servers: tuple[str, ...]) -> list[str]:
        self.asked += 1
        if self.down:
            raise DnsUnreachable(f"DNS did not answer for {name}.")
        return self.records.get(name, [])


@pytest.fixture
def dns() -> Dns:
    return Dns()


def _platform(tmp_path: Path, dns: Dns, need_proof: bool) -> Platform:
    settings = Settings.from_env({"MOORAGE_DATA_DIR": str(tmp_path / "data")})
    settings = replace(settings, domains_need_proof=need_proof)
    ensure_signing_key(tmp_path / "k.pem", tmp_path / "c.pem")
    p = Platform(
        settings,
        prepare_store(settings),
        TokenIssuer(tmp_path / "k.pem"),
        FakeRegistry(),  # type: ignore[arg-type]
        {},
        open_logs(settings),
    )
    p.secret = b"s" * 32
    p.prover = Prover(p.secret, lookup=dns)
    p.reconciler = Reconciler(p.store, FakeRuntime(), FakeRouter(), settings)
    return p


@pytest.fixture(params=[False, True], ids=["routed-until-contested", "need-proof"])
def platform(request: pytest.FixtureRequest, tmp_path: Path, dns: Dns) -> Platform:
    return _platform(tmp_path, dns, request.param)


@pytest.fixture
def strict(tmp_path: Path, dns: Dns) -> Platform:
    """A platform that routes a custom domain only once proven."""
    return _platform(tmp_path, dns, True)


@pytest.fixture
def two(platform: Platform) -> Iterator[tuple[TestClient, TestClient]]:
    app = create_app(platform)
    alice = {"Authorization": f"Bearer {make_token(platform, 'alice@example.test')}"}
    bob = {"Authorization": f"Bearer {make_token(platform, 'bob@example.test')}"}
    with TestClient(app, headers=alice) as a, TestClient(app, headers=bob) as b:
        a.post("/apps", json={"name": "alice-web"})
        b.post("/apps", json={"name": "bob-web"})
        yield a, b


def _routed(platform: Platform) -> dict[str, tuple[str, ...]]:
    assert platform.reconciler is not None
    return {k: v for k, v in platform.reconciler.desired().domains.items() if v}


def _publish(dns: Dns, proof: dict[str, str]) -> None:
    dns.records[proof["record"]] = [proof["value"]]


def test_parents_stop_above_the_top_level_domain() -> None:
    assert parents("a.b.example.com") == ["a.b.example.com", "b.example.com", "example.com"]


def test_the_proof_is_asked_for_with_its_record_and_value(
    platform: Platform, two: tuple[TestClient, TestClient], dns: Dns
) -> None:
    a, _ = two
    added = a.post("/apps/alice-web/domains", json={"hostname": "example.com"}).json()
    proof = added["moorage"]["verification"]
    assert proof["record"] == "_moorage-challenge.example.com" and proof["type"] == "TXT"
    assert proof["value"].startswith("moorage-verification=") and not proof["verified"]
    need = platform.settings.domains_need_proof
    assert added["status"] == ("pending" if need else "succeeded")
    assert _routed(platform) == ({} if need else {"alice-web": ("example.com",)})
    missing = a.post("/apps/alice-web/domains/example.com/actions/verify")
    assert missing.status_code == 422 and proof["value"] in missing.json()["message"]
    dns.down = True
    down = a.post("/apps/alice-web/domains/example.com/actions/verify")
    assert down.status_code == 503 and down.json()["id"] == "dns_unreachable"
    dns.down = False
    _publish(dns, proof)
    done = a.post("/apps/alice-web/domains/example.com/actions/verify").json()
    assert done["status"] == "succeeded" and done["moorage"]["verification"]["verified"]
    assert _routed(platform) == {"alice-web": ("example.com",)}


def test_reading_a_pending_domain_looks_again_so_domains_wait_ends(
    strict: Platform, dns: Dns
) -> None:
    platform = strict
    token = make_token(platform, "alice@example.test")
    a = TestClient(create_app(platform), headers={"Authorization": f"Bearer {token}"})
    a.post("/apps", json={"name": "alice-web"})
    added = a.post("/apps/alice-web/domains", json={"hostname": "www.example.com"}).json()
    assert a.get(f"/apps/alice-web/domains/{added['id']}").json()["status"] == "pending"
    asked = dns.asked
    for _ in range(3):  # Heroku's domains:wait polls every 5 s: lookups are spaced as much
        a.get(f"/apps/alice-web/domains/{added['id']}")
    assert dns.asked == asked
    platform.prover = Prover(platform.secret, lookup=dns)  # forget the last answers
    _publish(dns, added["moorage"]["verification"])
    assert a.get(f"/apps/alice-web/domains/{added['id']}").json()["status"] == "succeeded"
    assert _routed(platform) == {"alice-web": ("www.example.com",)}


def test_a_proof_holds_every_name_under_it_for_its_owner(
    platform: Platform, two: tuple[TestClient, TestClient], dns: Dns
) -> None:
    a, b = two
    b.post("/apps/bob-web/domains", json={"hostname": "www.example.com"})
    added = a.post("/apps/alice-web/domains", json={"hostname": "example.com"}).json()
    _publish(dns, added["moorage"]["verification"])
    assert a.post("/apps/alice-web/domains/example.com/actions/verify").is_success
    assert b.get("/apps/bob-web/domains/www.example.com").json()["status"] == "failed"
    assert _routed(platform) == {"alice-web": ("example.com",)}

    under = b.post("/apps/bob-web/domains", json={"hostname": "api.example.com"})
    assert under.status_code == 409
    assert "under example.com" in under.json()["message"]
    assert "alice" not in under.json()["message"]
    own = a.post("/apps/alice-web/domains", json={"hostname": "api.example.com"}).json()
    assert own["status"] == "succeeded" and not own["moorage"]["verification"]["verified"]
    took = a.post("/apps/alice-web/domains", json={"hostname": "www.example.com"})
    assert took.status_code == 201, took.text  # Bob's, unproven, under Alice's proof
    assert [d["hostname"] for d in b.get("/apps/bob-web/domains").json()][1:] == []


def test_the_zones_dns_admin_can_give_a_name_under_it_to_someone_else(
    platform: Platform, two: tuple[TestClient, TestClient], dns: Dns
) -> None:
    a, b = two
    added = a.post("/apps/alice-web/domains", json={"hostname": "example.com"}).json()
    _publish(dns, added["moorage"]["verification"])
    a.post("/apps/alice-web/domains/example.com/actions/verify")
    refused = b.post("/apps/bob-web/domains", json={"hostname": "shop.example.com"})
    value = refused.json()["message"].split('"')[1]
    dns.records["_moorage-challenge.shop.example.com"] = [value]
    given = b.post("/apps/bob-web/domains", json={"hostname": "shop.example.com"})
    assert given.status_code == 201 and given.json()["moorage"]["verification"]["verified"]
    deeper = a.post("/apps/alice-web/domains", json={"hostname": "x.shop.example.com"})
    assert deeper.status_code == 409  # the most specific proof decides
