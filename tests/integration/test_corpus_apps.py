"""Corpus apps that no one here wrote, imported end to end from their unmodified manifests
(issue 18), their images stood in for on loopback (tests/fixtures/standins)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.livefixtures import LivePlatform
from tests.standin import StandIn

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "k8s"
STANDINS = Path(__file__).resolve().parents[1] / "fixtures" / "standins"


def test_azure_voting_app_counts_a_vote(platform: LivePlatform, standin: StandIn) -> None:
    """The front reaches its Redis by host alone (REDIS=azure-vote-back), so the Redis stays
    a private process of the group; the front is public (its Service was a LoadBalancer)."""
    standin.build("mcr.microsoft.com/azuredocs/azure-vote-front:v1", STANDINS / "azure-vote-front")
    standin.redis("mcr.microsoft.com/oss/bitnami/redis:6.0.8")
    source = CORPUS / "azure-voting-app-redis"
    try:
        _votes(platform, platform.moor("k8s:import", str(source)).stdout, source)
    finally:  # the names are free again for the other tests of the corpus (dry runs)
        for app in ("azure-vote-front", "azure-vote-back"):
            platform.moor("apps:destroy", "-a", app, "--confirm", app, check=False)


def _votes(platform: LivePlatform, out: str, source: Path) -> None:
    assert "create private app azure-vote-back" in out and "create app azure-vote-front" in out
    front = f"http://127.0.0.1:{platform.router_port}/"
    host = {"Host": f"azure-vote-front.{platform.domain}"}
    page = platform.wait_for("azure-vote-front", "Cats - ", timeout=180)
    before = int(re.search(r"Cats - (\d+)", page.text)[1])  # type: ignore[index]
    voted = httpx.post(front, headers=host, data={"vote": "Cats"}, timeout=10)
    assert voted.status_code == 200 and f"Cats - {before + 1}" in voted.text, voted.text
    assert platform.get("azure-vote-back").status_code == 404  # private: not on the router
    again = platform.moor("k8s:import", str(source))
    assert "Nothing to change" in again.stdout


def _scores(base: str, host: str, timeout: float = 30.0) -> dict[str, int]:
    """The vote counts the result app pushes (its socket.io event ``scores``), read over
    socket.io's plain-HTTP polling transport through the router."""
    url, headers = f"{base}/socket.io/", {"Host": host}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=30, headers=headers) as http:
        r = http.get(url, params={"EIO": "4", "transport": "polling"})
        r.raise_for_status()
        params = {"EIO": "4", "transport": "polling", "sid": json.loads(r.text[1:])["sid"]}
        http.post(url, params=params, content="40").raise_for_status()  # join namespace "/"
        while time.monotonic() < deadline:
            r = http.get(url, params=params)
            r.raise_for_status()
            for packet in r.text.split("\x1e"):
                if packet == "2":
                    http.post(url, params=params, content="3")  # ping -> pong
                elif packet.startswith("42"):
                    name, *args = json.loads(packet[2:])
                    if name == "scores":
                        return dict(json.loads(args[0]))
    raise AssertionError("the result app sent no scores")


def _rows(platform: LivePlatform, timeout: float = 120) -> int:
    """Votes in the kept database, asked of its own dyno (what `ps:exec` would show)."""
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            db = platform.dyno_container("db-app", "web.1")
            code, out = db.exec_run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SELECT count(*) FROM votes"],
                environment={"PGPASSWORD": "postgres"},
            )
            last = out.decode()
            if code == 0:
                return int(last.strip())
        except Exception as exc:  # restarting: no container yet, or not accepting
            last = str(exc)
        time.sleep(1)
    raise AssertionError(f"the kept database did not answer: {last[:300]}")


VOTING_APPS = ("vote", "result", "worker", "db-app", "redis")


def test_example_voting_app_counts_a_vote_and_keeps_it(
    platform: LivePlatform, standin: StandIn
) -> None:
    """vote (Flask, its own source) -> redis -> worker -> db (postgres, kept as a private
    process on a volume) -> result (Node, its own source). The vote survives a restart of
    the database's dyno, a new release of it, and a restart of `moor server`."""
    for image, folder in [
        ("dockersamples/examplevotingapp_vote", "examplevotingapp-vote"),
        ("dockersamples/examplevotingapp_result", "examplevotingapp-result"),
        ("dockersamples/examplevotingapp_worker", "examplevotingapp-worker"),
        ("postgres:15-alpine", "postgres"),
    ]:
        standin.build(image, STANDINS / folder)
    standin.redis("redis:alpine")
    source = CORPUS / "example-voting-app"
    try:
        out = platform.moor("k8s:import", str(source)).stdout
        assert "create private app db-app" in out and "create volume db-data" in out, out
        platform.wait_for("vote", "Cats vs Dogs", timeout=240)
        base = f"http://127.0.0.1:{platform.router_port}"
        voted = httpx.post(
            f"{base}/",
            headers={"Host": f"vote.{platform.domain}"},
            cookies={"voter_id": "tester-1"},
            data={"vote": "b"},
            timeout=10,
        )
        assert voted.status_code == 200 and 'var vote = "b"' in voted.text
        host = f"result.{platform.domain}"
        deadline = time.monotonic() + 180
        while _scores(base, host).get("b", 0) < 1:
            assert time.monotonic() < deadline, "the vote never reached the result app"
        assert _rows(platform) >= 1
        for private in ("db-app", "redis"):
            assert platform.get(private).status_code == 404  # not on the router
        platform.moor("ps:restart", "-a", "db-app")
        assert _rows(platform) >= 1
        platform.moor("config:set", "KEEP=1", "-a", "db-app")  # a new release
        assert _rows(platform) >= 1
        platform.kill_server()
        platform.start_server()
        platform.moor("ps:restart", "-a", "db-app")
        assert _rows(platform) >= 1
        platform.moor("config:unset", "KEEP", "-a", "db-app")
        again = platform.moor("k8s:import", str(source))
        assert "Nothing to change" in again.stdout, again.stdout
    finally:
        for app in VOTING_APPS:
            platform.moor("apps:destroy", "-a", app, "--confirm", app, check=False)


def test_guestbook_reads_an_entry_back_through_the_follower(
    platform: LivePlatform, standin: StandIn
) -> None:
    """The frontend writes to redis-master and reads from redis-replica, a replica of it.
    The stand-in keeps the contract of the guestbook.php these manifests were written with
    (kubernetes/examples); the published v5 image dials redis-leader/redis-follower instead
    and fails on these manifests in Kubernetes too (tests/fixtures/standins/README.md)."""
    standin.build(
        "gcr.io/google-samples/gb-frontend:v5", STANDINS / "gb-frontend", SOURCE="examples"
    )
    standin.build_with_redis("gcr.io/google_samples/gb-redisslave:v1", STANDINS / "gb-redisslave")
    standin.redis("registry.k8s.io/redis:e2e")
    source = CORPUS / "kubernetes-examples-guestbook" / "guestbook-all-in-one.yaml"
    try:
        out = platform.moor("k8s:import", str(source)).stdout
        assert "create private app redis-replica" in out, out
        platform.wait_for("frontend", "Guestbook", timeout=240)
        entry = f"hello-{time.time_ns()}"
        api = f"http://127.0.0.1:{platform.router_port}/guestbook.php"
        host = {"Host": f"frontend.{platform.domain}"}
        saved = httpx.get(
            api, headers=host, params={"cmd": "set", "key": "messages", "value": entry}
        )
        assert saved.json() == {"message": "Updated"}, saved.text
        deadline, read = time.monotonic() + 60, ""
        while entry not in read and time.monotonic() < deadline:
            got = httpx.get(api, headers=host, params={"cmd": "get", "key": "messages"})
            read = got.text
            time.sleep(0.5)
        assert entry in read, read
        assert platform.get("redis-master").status_code == 404
        again = platform.moor("k8s:import", str(source))
        assert "Nothing to change" in again.stdout, again.stdout
    finally:
        for app in ("frontend", "redis-master", "redis-replica"):
            platform.moor("apps:destroy", "-a", app, "--confirm", app, check=False)
