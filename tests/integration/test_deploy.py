"""The article's workflow on real Docker, nginx, Docker Distribution and PostgreSQL."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import docker
import httpx
import pytest

from tests.livefixtures import ACTORS, LivePlatform

pytestmark = pytest.mark.integration


def test_actors_app_serves_actors_from_postgres(platform: LivePlatform, actors: str) -> None:
    info = platform.json("apps:info", "-a", actors)
    assert info["web_url"] == f"https://{actors}.{platform.domain}:{platform.https_port}/"
    page = platform.wait_for(actors, "Meryl Streep")
    assert "<title>Actors</title>" in page.text
    assert [a["plan"]["name"] for a in info["addons"]] == ["postgresql:mini"]


def test_the_app_answers_over_https_with_the_platform_ca(
    platform: LivePlatform, actors: str
) -> None:
    platform.wait_for(actors, "Meryl Streep")
    ca = platform.data / "tls" / "ca.crt"
    resp = httpx.get(f"https://{actors}.{platform.domain}:{platform.https_port}/", verify=str(ca))
    assert resp.status_code == 200 and "Meryl Streep" in resp.text
    api = httpx.get(f"https://api.{platform.domain}:{platform.https_port}/account", verify=str(ca))
    assert api.status_code == 401 and api.json()["id"] == "unauthorized"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://{actors}.{platform.domain}:{platform.https_port}/")


def test_release_again_is_idempotent(platform: LivePlatform, actors: str) -> None:
    before = platform.json("releases", "-a", actors)
    dynos = platform.json("ps", "-a", actors)
    out = platform.moor("container:release", "web", "-a", actors, cwd=ACTORS)
    assert "nothing to do" in out.stdout
    assert platform.json("releases", "-a", actors) == before
    assert [d["id"] for d in platform.json("ps", "-a", actors)] == [d["id"] for d in dynos]


def test_config_set_makes_a_release_the_dyno_sees(platform: LivePlatform, actors: str) -> None:
    count = len(platform.json("releases", "-a", actors))
    platform.moor("config:set", "GREETING=hello from moorage", "-a", actors)
    releases = platform.json("releases", "-a", actors)
    assert len(releases) == count + 1
    assert releases[0]["description"] == "Set GREETING config vars"
    platform.wait_for(actors, "hello from moorage")
    assert (
        platform.moor("config:get", "GREETING", "-a", actors).stdout.strip() == "hello from moorage"
    )


def test_dynos_are_confined(platform: LivePlatform, actors: str) -> None:
    c = platform.dyno_container(actors, "web.1")
    host = c.attrs["HostConfig"]
    assert host["Memory"] == 512 * 1024 * 1024 and host["PidsLimit"] == 256
    assert host["CapDrop"] == ["ALL"] and not host["Privileged"]
    assert not any("docker.sock" in m for m in host.get("Binds") or [])
    assert not any("docker.sock" in str(m.get("Source")) for m in c.attrs.get("Mounts") or [])
    assert c.attrs["Config"]["User"] == "65534:65534"
    status = c.exec_run(["cat", "/proc/1/status"]).output.decode()
    assert "NoNewPrivs:\t1" in status and "CapEff:\t0000000000000000" in status
    network = f"moorage-{platform.env['MOORAGE_INSTANCE']}-{actors}"
    # on the swarm runtime, Swarm adds its docker_gwbridge for the way out (host-mode ports)
    assert set(c.attrs["NetworkSettings"]["Networks"]) - {"docker_gwbridge"} == {network}
    env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
    assert (
        env["PORT"] == "5000"
        and env["DYNO"] == "web.1"
        and env["DATABASE_URL"].startswith("postgres://")
    )


def test_kill9_of_the_server_keeps_the_app_serving_and_adopts_dynos(
    platform: LivePlatform, actors: str
) -> None:
    before = platform.json("ps", "-a", actors)
    platform.kill_server()
    statuses = [platform.get(actors).status_code for _ in range(20)]
    assert statuses == [200] * 20
    platform.start_server()
    # a fresh server reports dynos "starting" until its first pass has probed them all
    deadline = time.monotonic() + 90
    after = platform.json("ps", "-a", actors)
    while any(d["state"] != "up" for d in after) and time.monotonic() < deadline:
        time.sleep(0.5)
        after = platform.json("ps", "-a", actors)
    assert [(d["id"], d["state"]) for d in after] == [(d["id"], "up") for d in before]


def test_unknown_host_is_404_page(platform: LivePlatform) -> None:
    resp = platform.get("no-such-app")
    assert resp.status_code == 404 and "No such app" in resp.text


def test_app_without_dynos_is_503_page(platform: LivePlatform) -> None:
    app = platform.create_app("idle")
    deadline = time.monotonic() + 10
    while platform.get(app).status_code != 503 and time.monotonic() < deadline:
        time.sleep(0.3)
    resp = platform.get(app)
    assert resp.status_code == 503 and "Application error" in resp.text


def test_release_of_a_never_pushed_type_changes_nothing(
    platform: LivePlatform, actors: str
) -> None:
    before = platform.json("releases", "-a", actors)
    out = platform.moor("container:release", "worker", "-a", actors, check=False)
    assert out.returncode != 0 and "container:push worker" in out.stderr
    assert "Traceback" not in out.stderr
    assert platform.json("releases", "-a", actors) == before


def test_failing_build_shows_the_step_and_keeps_serving(
    platform: LivePlatform, actors: str, tmp_path: Path
) -> None:
    before = platform.json("releases", "-a", actors)
    shutil.copytree(ACTORS, tmp_path / "app")
    (tmp_path / "app" / "Dockerfile").write_text("FROM python:3\nRUN echo building && exit 3\n")
    out = platform.moor("container:push", "web", "-a", actors, cwd=tmp_path / "app", check=False)
    assert out.returncode == 6
    assert "Step 2/2 : RUN echo building && exit 3" in out.stderr and "Traceback" not in out.stderr
    assert platform.get(actors).status_code == 200
    assert platform.json("releases", "-a", actors) == before


def test_bad_names_keys_and_tokens(platform: LivePlatform) -> None:
    bad = platform.moor("apps:create", "Bad_Name", check=False)
    assert (
        bad.returncode == 2 and "lowercase letter" in bad.stderr and "Traceback" not in bad.stderr
    )
    app = platform.create_app("names")
    dup = platform.moor("apps:create", app, check=False)
    assert dup.returncode == 5 and "already taken" in dup.stderr
    missing = platform.moor("apps:info", "-a", "no-such-app-x", check=False)
    assert missing.returncode == 4 and "Couldn't find that app" in missing.stderr
    key = platform.moor("config:set", "BAD-KEY=1", "-a", app, check=False)
    assert key.returncode == 2 and "BAD-KEY" in key.stderr
    assert httpx.get(f"{platform.api}/apps").status_code == 401
    denied = platform.moor("apps", token="moor_not_a_token", check=False)
    assert denied.returncode == 3 and "Invalid credentials" in denied.stderr


def test_registry_refuses_another_users_token(platform: LivePlatform, actors: str) -> None:
    mallory = platform.new_token("mallory@example.test")
    scope = f"repository:{actors}/web:pull,push"
    token = httpx.get(
        f"{platform.api}/registry/token", params={"scope": scope}, auth=("_", mallory)
    ).json()["token"]
    manifest = httpx.get(
        f"http://{platform.registry}/v2/{actors}/web/manifests/latest",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert manifest.status_code == 401
    client = docker.from_env()
    with pytest.raises(docker.errors.APIError):
        client.images.pull(
            f"{platform.registry}/{actors}/web",
            tag="latest",
            auth_config={"username": "_", "password": mallory},
        )
    assert platform.moor("apps:info", "-a", actors, token=mallory, check=False).returncode == 4


def test_heroku_dockerfile_deploys_unchanged_on_default_port(
    platform: LivePlatform, tmp_path: Path
) -> None:
    app = platform.create_app("heroku")
    shutil.copytree(ACTORS, tmp_path / "app")
    (tmp_path / "app" / "Dockerfile").unlink()
    (tmp_path / "app" / "Dockerfile.heroku").rename(tmp_path / "app" / "Dockerfile")
    platform.moor("addons:create", "postgresql", "-a", app)
    platform.moor("container:push", "web", "-a", app, cwd=tmp_path / "app")
    platform.moor("container:release", "web", "-a", app, cwd=tmp_path / "app")
    platform.wait_for(app, "Tom Hanks")


def test_destroy_removes_containers_network_images_and_route(
    platform: LivePlatform, tmp_path: Path
) -> None:
    app = platform.create_app("doomed")
    platform.moor("ps:port", "web", "5000", "-a", app)
    platform.moor("container:push", "web", "-a", app, cwd=ACTORS)
    platform.moor("container:release", "web", "-a", app, cwd=ACTORS)
    assert platform.get(app).status_code == 503  # no DATABASE_URL: the app itself says 503
    platform.moor("apps:destroy", "-a", app, "--confirm", app)
    platform.apps.discard(app)
    label = f"moorage.app={app}"

    def leftovers() -> list[str]:
        found = []
        for client in platform.engines():
            found += [c.name for c in client.containers.list(all=True, filters={"label": label})]
            found += [n.name for n in client.networks.list(filters={"label": label})]
            if platform.swarm is not None and client.info()["Swarm"]["ControlAvailable"]:
                found += [s["ID"] for s in client.api.services(filters={"label": label})]
            for i in client.images.list():
                refs = list(i.tags) + list(i.attrs.get("RepoDigests") or [])
                found += [r for r in refs if f"/{app}/" in r]
        return found

    # on one host the reconciler removes all before apps:destroy returns; on a swarm the
    # network and images go once the nodes have stopped the dynos
    deadline = time.monotonic() + (0 if platform.swarm is None else 90)
    while leftovers() and time.monotonic() < deadline:
        time.sleep(1)
    assert leftovers() == []
    assert platform.get(app).status_code == 404


def test_scale_out_and_in_behind_the_router(platform: LivePlatform, actors: str) -> None:
    scaled = platform.json("ps:scale", "web=2", "-a", actors)
    assert [(f["type"], f["quantity"]) for f in scaled] == [("web", 2)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        dynos = platform.json("ps", "-a", actors)
        if [d["state"] for d in dynos] == ["up", "up"]:
            break
        time.sleep(0.5)
    assert [d["name"] for d in dynos] == ["web.1", "web.2"]

    def backends() -> int:
        table = (platform.data / "router" / "routes").read_text().splitlines()
        return sum(len(x.split()) - 2 for x in table if x.startswith(f"app {actors} "))

    while backends() != 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert backends() == 2
    assert all(platform.get(actors).status_code == 200 for _ in range(10))
    platform.moor("ps:scale", "web=1", "-a", actors)
    deadline = time.monotonic() + 60
    while len(platform.json("ps", "-a", actors)) != 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [d["name"] for d in platform.json("ps", "-a", actors)] == ["web.1"]


def test_credentials_file_is_private(platform: LivePlatform) -> None:
    assert (platform.data / "credentials.json").stat().st_mode & 0o777 == 0o600


def test_registry_refuses_a_push_by_another_user(platform: LivePlatform, actors: str) -> None:
    mallory = platform.new_token("mallory2@example.test")
    client = docker.from_env()
    image = client.images.get(f"{platform.registry}/{actors}/web:latest")
    image.tag(f"{platform.registry}/{actors}/web", tag="evil")
    try:
        lines = client.api.push(
            f"{platform.registry}/{actors}/web",
            tag="evil",
            stream=True,
            decode=True,
            auth_config={"username": "_", "password": mallory},
        )
        errors = [line["error"] for line in lines if "error" in line]
        assert errors and ("denied" in errors[0] or "authentication required" in errors[0])
        assert "evil" not in _tags(platform, actors)
    finally:
        client.images.remove(f"{platform.registry}/{actors}/web:evil")


def _tags(platform: LivePlatform, app: str) -> list[str]:
    """The app's web tags as the registry holds them, read with the owner's token."""
    token = httpx.get(
        f"{platform.api}/registry/token",
        params={"scope": f"repository:{app}/web:pull"},
        auth=("_", (platform.data / "admin@example.test.token").read_text().strip()),
    ).json()["token"]
    listing = httpx.get(
        f"http://{platform.registry}/v2/{app}/web/tags/list",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert listing.status_code == 200, listing.text
    return list(listing.json()["tags"])
