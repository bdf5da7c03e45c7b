"""Failed logins per client address (services/ratelimit.py) and how the API applies them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from moorage.errors import RateLimited
from moorage.server.app import create_app
from moorage.server.deps import client_address
from moorage.server.platform import Platform, edge_proof
from moorage.server.services.ratelimit import FailedLogins
from tests.unit.conftest import make_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_21st_try_within_the_window_is_refused_until_the_first_ages_out() -> None:
    clock = Clock()
    limiter = FailedLogins(20, 60.0, clock=clock)
    for _ in range(20):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
        clock.now += 1
    with pytest.raises(RateLimited) as refused:
        limiter.check("10.0.0.1")
    assert refused.value.status == 429 and refused.value.retry_after == 40
    assert refused.value.message == "Too many failed logins from 10.0.0.1; wait 40 s."
    limiter.check("10.0.0.2")  # another address is not affected
    clock.now += 39.5
    with pytest.raises(RateLimited) as still:
        limiter.check("10.0.0.1")
    assert still.value.retry_after == 1
    clock.now += 0.5  # the first failure is 60 s old: one more try
    limiter.check("10.0.0.1")
    limiter.failed("10.0.0.1")
    with pytest.raises(RateLimited):
        limiter.check("10.0.0.1")


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    clock = Clock()
    limiter = FailedLogins(20, 60.0, clock=clock)
    for _ in range(200):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
        clock.now += 3.01  # 19.9 failures a minute
    clock.now += 60
    limiter.check("10.0.0.1")
    assert limiter.tracked() <= 1


def test_memory_is_bounded_by_dropping_the_stalest_address() -> None:
    clock = Clock()
    limiter = FailedLogins(2, 60.0, clock=clock, max_addresses=100)
    for _ in range(2):
        limiter.failed("10.9.9.9")
    for n in range(150):
        limiter.failed(f"10.0.{n // 256}.{n % 256}")
    assert limiter.tracked() == 100
    limiter.check("10.9.9.9")  # forgotten: the oldest went first


SECRET = b"s" * 32


def _request(peer: str, forwarded: str | None, proof: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    if proof is not None:
        headers.append((b"x-moorage-edge", proof.encode()))
    app = SimpleNamespace(state=SimpleNamespace(platform=SimpleNamespace(secret=SECRET)))
    scope = {"type": "http", "client": (peer, 40000), "headers": headers, "method": "GET",
             "app": app}  # fmt: skip
    return Request(scope)


def test_forwarded_for_is_believed_from_the_edge_only() -> None:
    """Issue 23 item 9: a local caller without the edge's proof is its own address."""
    edge = edge_proof(SECRET)
    assert client_address(_request("127.0.0.1", "203.0.113.9", edge)) == "203.0.113.9"
    assert client_address(_request("127.0.0.1", "6.6.6.6, 203.0.113.9", edge)) == "203.0.113.9"
    assert client_address(_request("127.0.0.1", None, edge)) == "127.0.0.1"
    assert client_address(_request("127.0.0.1", "203.0.113.9")) == "127.0.0.1"
    assert client_address(_request("127.0.0.1", "203.0.113.9", "guess")) == "127.0.0.1"
    assert client_address(_request("192.0.2.7", "127.0.0.1", edge)) == "192.0.2.7"
    assert client_address(_request("127.0.0.2", "10.1.1.1", edge)) == "127.0.0.2"


def test_api_refuses_an_address_after_20_bad_tokens_even_with_a_good_one(
    platform: Platform,
) -> None:
    good = make_token(platform, "alice@example.test")
    app = create_app(platform)
    app.state.failed_logins = FailedLogins(clock=Clock())  # frozen: the wait is exactly 60 s
    with TestClient(app) as api:
        for n in range(20):
            bad = api.get("/account", headers={"Authorization": f"Bearer moor_bad{n}"})
            assert bad.status_code == 401
            if n == 10:  # requests without a token do not count, nor do good ones
                assert api.get("/account").status_code == 401
                assert api.get("/account", headers={"Authorization": f"Bearer {good}"}).is_success
        refused = api.get("/account", headers={"Authorization": f"Bearer {good}"})
        assert refused.status_code == 429
        assert refused.json() == {
            "id": "rate_limited",
            "message": "Too many failed logins from testclient; wait 60 s.",
        }
        assert refused.headers["retry-after"] == "60"
        login = api.post("/dashboard/login", data={"token": good})
        assert login.status_code == 429 and login.headers["retry-after"] == "60"
        edge = {"Authorization": f"Bearer {good}", "X-Forwarded-For": "127.0.0.1"}
        assert api.get("/account", headers=edge).status_code == 429  # not from the edge


def test_good_tokens_and_dashboard_failures(platform: Platform) -> None:
    good = make_token(platform, "alice@example.test")
    with TestClient(create_app(platform)) as api:
        for _ in range(30):
            assert api.get("/account", headers={"Authorization": f"Bearer {good}"}).is_success
        for n in range(20):
            assert api.post("/dashboard/login", data={"token": f"moor_bad{n}"}).status_code == 401
        assert api.get("/account", headers={"Authorization": f"Bearer {good}"}).status_code == 429
