"""Issue 23, item 15: custom domains are proven through DNS, and a proven name is its owner's.

User A (the admin, owner of the deployed actors app) and user B are two tenants; a dnsmasq
on loopback is the DNS provider where the owner of ``*.test`` names publishes TXT records.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.dnszone import DnsZone
from tests.livefixtures import LivePlatform
from tests.security.tenants import User

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def zone(platform: LivePlatform) -> Iterator[DnsZone]:
    dns = DnsZone(platform.dns_port)
    try:
        yield dns
    finally:
        dns.close()


def _routed(platform: LivePlatform, host: str) -> httpx.Response:
    return httpx.get(
        f"http://127.0.0.1:{platform.router_port}/", headers={"Host": host}, timeout=10
    )


def _until(platform: LivePlatform, host: str, status: int, text: str = "") -> None:
    """The router answers ``host`` with ``status`` (and ``text``) once the reconciler ran."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        resp = _routed(platform, host)
        if resp.status_code == status and text in resp.text:
            return
        time.sleep(0.5)
    raise AssertionError(f"{host}: {resp.status_code} {resp.text[:200]}, wanted {status}")


def test_a_proven_domain_is_its_owners_with_every_name_under_it(
    platform: LivePlatform, users: tuple[User, User], zone: DnsZone, actors: str
) -> None:
    """Item 15: B squatted www.<A's domain> before A proved the domain in DNS. Once A
    proves it, B's squat is no longer routed, B cannot add another name under it, and A
    can take the squatted name; a name B squats that A proves is taken over too."""
    a, b = users
    shop, squat = f"shop-{os.urandom(3).hex()}.test", f"pay-{os.urandom(3).hex()}.test"
    mine = f"squat-{os.urandom(3).hex()}"
    b.ok("POST", "/apps", {"name": mine})
    try:
        b.ok("POST", f"/apps/{mine}/domains", {"hostname": f"www.{shop}"})
        b.ok("POST", f"/apps/{mine}/domains", {"hostname": squat})
        _until(platform, f"www.{shop}", 503, "Application error")  # routed to B's app

        added = a.ok("POST", f"/apps/{actors}/domains", {"hostname": shop})
        proof = added["moorage"]["verification"]
        assert proof["record"] == f"_moorage-challenge.{shop}"
        assert not proof["verified"]
        unproven = platform.moor("domains:verify", shop, "-a", actors, check=False)
        assert unproven.returncode != 0
        assert "DNS does not show the proof" in unproven.stderr, unproven.stderr
        assert proof["value"] in unproven.stderr and "Traceback" not in unproven.stderr

        zone.publish(proof["record"], proof["value"])
        verified = platform.moor("domains:verify", shop, "-a", actors)
        assert f"{shop} is proven yours" in verified.stdout
        _until(platform, shop, 200, "Actors")

        squatted = b.ok("GET", f"/apps/{mine}/domains/www.{shop}")
        assert squatted["status"] == "failed"
        _until(platform, f"www.{shop}", 404, "No such app")

        refused = b("POST", f"/apps/{mine}/domains", {"hostname": f"api.{shop}"})
        assert refused.status_code == 409, refused.text
        message = refused.json()["message"]
        assert f"under {shop}, which another owner has proven" in message, message
        assert f"_moorage-challenge.api.{shop}" in message and actors not in message

        a.ok("POST", f"/apps/{actors}/domains", {"hostname": f"www.{shop}"})
        _until(platform, f"www.{shop}", 200, "Actors")

        contested = a(
            "POST", f"/apps/{actors}/domains", {"hostname": squat}
        )  # B has it; A has no proof yet
        assert contested.status_code == 409, contested.text
        assert "already a domain of another app" in contested.json()["message"]
        zone.publish(f"_moorage-challenge.{squat}", _value(contested.json()["message"]))
        taken = a.ok("POST", f"/apps/{actors}/domains", {"hostname": squat})
        assert taken["moorage"]["verification"]["verified"]
        b_hosts = [d["hostname"] for d in b.ok("GET", f"/apps/{mine}/domains")]
        assert squat not in b_hosts
        _until(platform, squat, 200, "Actors")
    finally:
        b("DELETE", f"/apps/{mine}")
        for host in (shop, f"www.{shop}", squat):
            a("DELETE", f"/apps/{actors}/domains/{host}")


def _value(message: str) -> str:
    """The TXT value a refusal tells the user to publish."""
    start = message.index('"moorage-verification=') + 1
    return message[start : message.index('"', start)]
