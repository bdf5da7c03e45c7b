"""Pipelines, couplings and promotions through the API, on the fake registry and runtime."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from moorage.server.platform import Platform
from tests.unit.conftest import make_token


def _deploy(api: TestClient, platform: Platform, app: str, *types: str, n: int = 1) -> None:
    api.post("/apps", json={"name": app})
    updates = [
        {"type": t, "docker_image": platform.registry.push(app, t, n)}  # type: ignore[attr-defined]
        for t in types
    ]
    assert api.patch(f"/apps/{app}/formation", json={"updates": updates}).status_code == 200


def _pipeline(api: TestClient, name: str, *coupled: tuple[str, str]) -> dict[str, Any]:
    made = api.post("/pipelines", json={"name": name, "owner": {"id": "x", "type": "user"}})
    assert made.status_code == 201, made.text
    for app, stage in coupled:
        body = {"app": app, "pipeline": made.json()["id"], "stage": stage}
        resp = api.post("/pipeline-couplings", json=body)
        assert resp.status_code == 201, resp.text
    out: dict[str, Any] = made.json()
    return out


def _app_id(api: TestClient, app: str) -> str:
    out: str = api.get(f"/apps/{app}").json()["id"]
    return out


def _promote(api: TestClient, pipeline: dict[str, Any], source: str, *targets: str) -> Any:
    body = {
        "pipeline": {"id": pipeline["id"]},
        "source": {"app": {"id": _app_id(api, source)}},
        "targets": [{"app": {"id": _app_id(api, t)}} for t in targets],
    }
    return api.post("/pipeline-promotions", json=body)


def test_promotion_releases_the_source_digests_with_the_targets_config(
    api: TestClient, platform: Platform
) -> None:
    _deploy(api, platform, "shop-stg", "web", "worker")
    phase = {"updates": [{"type": "release", "command": "python migrate.py"}]}
    assert api.patch("/apps/shop-stg/formation", json=phase).status_code == 200
    api.post("/apps", json={"name": "shop-prd"})
    api.patch("/apps/shop-prd/config-vars", json={"MODE": "production"})
    pipeline = _pipeline(api, "shop", ("shop-stg", "staging"), ("shop-prd", "production"))
    assert api.get("/pipelines", params={"eq[name]": "shop"}).json()[0]["id"] == pipeline["id"]
    assert api.get("/apps/shop-prd/pipeline-couplings").json()["stage"] == "production"

    resp = _promote(api, pipeline, "shop-stg", "shop-prd")
    assert resp.status_code == 201, resp.text
    targets = api.get(f"/pipeline-promotions/{resp.json()['id']}/promotion-targets").json()
    assert [t["status"] for t in targets] == ["pending"] and targets[0]["release"]["id"]
    rel = api.get("/apps/shop-prd/releases").json()[-1]
    src = api.get("/apps/shop-stg/releases").json()[-1]
    assert rel["description"] == "Promote shop-stg v2"
    assert rel["release_command"] == "python migrate.py"
    assert {t: r.rsplit("@", 1)[1] for t, r in rel["images"].items()} == {
        t: r.rsplit("@", 1)[1] for t, r in src["images"].items()
    }
    assert rel["images"]["web"].startswith("registry.test/shop-prd/web@")
    formation = {f["type"]: f["quantity"] for f in api.get("/apps/shop-prd/formation").json()}
    assert formation == {"web": 1, "worker": 0}


def test_mismatched_types_missing_release_and_strangers_are_refused(
    api: TestClient, platform: Platform
) -> None:
    _deploy(api, platform, "two-stg", "web", "worker")
    _deploy(api, platform, "two-prd", "web", "clock")
    api.post("/apps", json={"name": "two-dev"})
    pipeline = _pipeline(
        api, "two", ("two-dev", "development"), ("two-stg", "staging"), ("two-prd", "production")
    )
    refused = _promote(api, pipeline, "two-stg", "two-prd")
    assert refused.status_code == 422
    message = refused.json()["message"]
    assert "two-prd runs clock" in message and "two-stg v1 has worker" in message, message
    assert len(api.get("/apps/two-prd/releases").json()) == 1
    empty = _promote(api, pipeline, "two-dev", "two-stg")
    assert empty.status_code == 422 and "no release with images" in empty.json()["message"]

    bob = {"Authorization": f"Bearer {make_token(platform, 'bob@example.test')}"}
    assert api.get(f"/pipelines/{pipeline['id']}", headers=bob).status_code == 404
    assert api.get("/pipelines", headers=bob).json() == []
    assert api.get("/pipelines", params={"eq[name]": "two"}, headers=bob).json() == []
    assert api.post("/pipeline-promotions", headers=bob, json={
        "pipeline": {"id": pipeline["id"]},
        "source": {"app": {"id": _app_id(api, "two-stg")}},
        "targets": [],
    }).status_code == 404  # fmt: skip
    assert api.delete(f"/pipelines/{pipeline['id']}", headers=bob).status_code == 404


def test_deleting_an_app_uncouples_it_and_stages_are_checked(api: TestClient) -> None:
    api.post("/apps", json={"name": "gone-stg"})
    pipeline = _pipeline(api, "gone", ("gone-stg", "staging"))
    bad = api.post(
        "/pipeline-couplings",
        json={"app": "gone-stg", "pipeline": pipeline["id"], "stage": "qa"},
    )
    assert bad.status_code == 422 and "production" in bad.json()["message"]
    assert api.delete("/apps/gone-stg").status_code == 200
    assert api.get(f"/pipelines/{pipeline['id']}/pipeline-couplings").json() == []
    assert api.delete(f"/pipelines/{pipeline['id']}").status_code == 200
    assert api.get("/pipelines").json() == []


def test_the_cli_guesses_stages_as_the_heroku_cli_does() -> None:
    from moorage.cli.pipelines import _stage
    from moorage.errors import InvalidParams

    assert _stage("shop-staging", None) == "staging"
    assert _stage("shop-prod", None) == "production"
    assert _stage("shop-qa", None) == "development"
    assert _stage("shop-prod", "review") == "review"
    try:
        _stage("shop", None)
    except InvalidParams as exc:
        assert "--stage" in exc.message
    else:
        raise AssertionError("a name without a stage was not refused")


def test_latest_releases_and_the_heroku_cli_lookups(api: TestClient, platform: Platform) -> None:
    _deploy(api, platform, "late-stg", "web")
    api.post("/apps", json={"name": "late-prd"})
    pipeline = _pipeline(api, "late", ("late-stg", "staging"), ("late-prd", "production"))
    latest = api.get(f"/pipelines/{pipeline['id']}/latest-releases").json()
    assert [(r["app"]["name"], r["version"]) for r in latest] == [("late-stg", 1)]
    assert api.get("/users/~").json()["email"] == "alice@example.test"
    ids = [_app_id(api, "late-stg"), "nosuch"]
    found = api.post("/filters/apps", json={"in": {"id": ids}}).json()
    assert [a["name"] for a in found] == ["late-stg"]
    assert api.post("/filters/apps", json={"in": ["x"]}).status_code == 422
