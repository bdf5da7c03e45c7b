from fastapi.testclient import TestClient

from moorage.server.platform import Platform
from tests.unit.conftest import make_token


def test_app_lifecycle_in_heroku_shapes(api: TestClient) -> None:
    created = api.post("/apps", json={"name": "actors"})
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "actors" and body["web_url"].startswith("https://actors.")
    assert api.get("/apps/actors").json()["id"] == body["id"]
    assert [a["name"] for a in api.get("/apps").json()] == ["actors"]
    assert api.delete("/apps/actors").status_code == 200
    assert api.get("/apps/actors").status_code == 404


def test_invalid_duplicate_and_unknown_apps(api: TestClient) -> None:
    bad = api.post("/apps", json={"name": "Bad_Name"})
    assert bad.status_code == 422 and bad.json()["id"] == "invalid_params"
    assert "lowercase letter" in bad.json()["message"]
    api.post("/apps", json={"name": "taken"})
    dup = api.post("/apps", json={"name": "taken"})
    assert dup.status_code == 409 and "already taken" in dup.json()["message"]
    missing = api.get("/apps/nope-nope")
    assert missing.status_code == 404 and missing.json() == {
        "id": "not_found",
        "message": "Couldn't find that app: nope-nope.",
    }
    assert (
        api.post(
            "/apps", content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 422
    )


def test_tokens_are_required_and_checked(api: TestClient, platform: Platform) -> None:
    assert api.get("/account", headers={"Authorization": ""}).status_code == 401
    wrong = api.get("/account", headers={"Authorization": "Bearer moor_wrong"})
    assert wrong.status_code == 401 and wrong.json()["id"] == "unauthorized"
    assert api.get("/account").json()["email"] == "alice@example.test"


def test_other_users_apps_are_invisible(api: TestClient, platform: Platform) -> None:
    api.post("/apps", json={"name": "alices"})
    bob = {"Authorization": f"Bearer {make_token(platform, 'bob@example.test')}"}
    assert api.get("/apps/alices", headers=bob).status_code == 404
    assert api.patch("/apps/alices/config-vars", json={"A": "1"}, headers=bob).status_code == 404
    assert api.get("/apps", headers=bob).json() == []


def test_a_malformed_body_does_not_tell_another_users_app_from_a_missing_one(
    api: TestClient, platform: Platform
) -> None:
    """Bodies are checked before a route runs: for an app the caller cannot see, the answer
    is still 404, exactly as for an app that does not exist; for one's own app, 422."""
    api.post("/apps", json={"name": "alices"})
    bob = {"Authorization": f"Bearer {make_token(platform, 'bob@example.test')}"}
    for path, body in [
        ("/apps/alices/sni-endpoints/x", {"certificate_chain": "x"}),
        ("/apps/alices/formation", {"updates": "none"}),
        ("/apps/alices", {"internal_routing": "maybe"}),
    ]:
        theirs = api.patch(path, json=body, headers=bob)
        missing = api.patch(path.replace("alices", "nosuch"), json=body, headers=bob)
        assert (theirs.status_code, theirs.json()["id"]) == (404, "not_found"), path
        assert theirs.json()["message"].replace("alices", "nosuch") == missing.json()["message"]
        assert api.patch(path, json=body).status_code == 422, path


def test_config_vars_patch_merges_null_deletes_and_releases(api: TestClient) -> None:
    api.post("/apps", json={"name": "cfg"})
    assert api.patch("/apps/cfg/config-vars", json={"A": "1", "B": "2"}).json() == {
        "A": "1",
        "B": "2",
    }
    assert api.patch("/apps/cfg/config-vars", json={"A": None}).json() == {"B": "2"}
    api.patch("/apps/cfg/config-vars", json={"B": "2"})  # unchanged: no release
    releases = api.get("/apps/cfg/releases").json()
    assert [r["version"] for r in releases] == [1, 2]
    assert releases[1]["description"] == "Remove A config vars"
    assert api.get("/apps/cfg/releases/v1/config-vars").json() == {"A": "1", "B": "2"}


def test_invalid_config_keys_change_nothing(api: TestClient) -> None:
    api.post("/apps", json={"name": "cfg2"})
    bad = api.patch("/apps/cfg2/config-vars", json={"OK": "1", "NOT-OK": "2"})
    assert bad.status_code == 422 and "NOT-OK" in bad.json()["message"]
    assert api.get("/apps/cfg2/config-vars").json() == {}
    assert api.patch("/apps/cfg2/config-vars", json={"PORT": "1"}).status_code == 422
    assert api.patch("/apps/cfg2/config-vars", json={"N": 5}).status_code == 422


def test_docker_image_release_and_idempotency(api: TestClient, platform: Platform) -> None:
    api.post("/apps", json={"name": "img"})
    image = platform.registry.push("img", "web", 1)  # type: ignore[attr-defined]
    updated = api.patch(
        "/apps/img/formation", json={"updates": [{"type": "web", "docker_image": image}]}
    )
    assert updated.status_code == 200 and updated.json()[0]["quantity"] == 1
    again = api.patch(
        "/apps/img/formation", json={"updates": [{"type": "web", "docker_image": image}]}
    )
    assert again.status_code == 200
    releases = api.get("/apps/img/releases").json()
    assert len(releases) == 1 and releases[0]["images"]["web"].startswith(
        "registry.test/img/web@sha256:"
    )


def test_release_of_unpushed_type_is_refused_and_changes_nothing(api: TestClient) -> None:
    api.post("/apps", json={"name": "nopush"})
    resp = api.patch(
        "/apps/nopush/formation",
        json={"updates": [{"type": "worker", "docker_image": "sha256:" + "a" * 64}]},
    )
    assert resp.status_code == 422 and "container:push worker" in resp.json()["message"]
    assert api.get("/apps/nopush/releases").json() == []
    assert api.get("/apps/nopush/formation").json() == []


def test_scaling_unknown_types_and_absurd_quantities(api: TestClient, platform: Platform) -> None:
    api.post("/apps", json={"name": "scale"})
    unknown = api.patch(
        "/apps/scale/formation", json={"updates": [{"type": "worker", "quantity": 1}]}
    )
    assert unknown.status_code == 404 and "worker" in unknown.json()["message"]
    image = platform.registry.push("scale", "web", 1)  # type: ignore[attr-defined]
    api.patch("/apps/scale/formation", json={"updates": [{"type": "web", "docker_image": image}]})
    for qty in (-1, 1000, "two", True):
        resp = api.patch(
            "/apps/scale/formation", json={"updates": [{"type": "web", "quantity": qty}]}
        )
        assert resp.status_code == 422, qty
    assert api.patch("/apps/scale/formation/web", json={"quantity": 3}).json()["quantity"] == 3
    as_heroku_sends = api.patch(  # the Heroku CLI sends quantities as strings
        "/apps/scale/formation", json={"updates": [{"type": "web", "quantity": "2"}]}
    )
    assert as_heroku_sends.json()[0]["quantity"] == 2


def test_registry_token_grants_only_own_apps(api: TestClient, platform: Platform) -> None:
    import jwt

    api.post("/apps", json={"name": "mine"})
    token = api.get(
        "/registry/token",
        params={"scope": ["repository:mine/web:push,pull", "repository:theirs/web:pull"]},
    )
    claims = jwt.decode(token.json()["token"], options={"verify_signature": False})
    assert claims["access"] == [
        {"type": "repository", "name": "mine/web", "actions": ["push", "pull"]}
    ]
    bob = make_token(platform, "bob@example.test")
    other = api.get(
        "/registry/token", params={"scope": "repository:mine/web:pull"}, auth=("_", bob)
    )
    assert jwt.decode(other.json()["token"], options={"verify_signature": False})["access"] == []
    assert (
        api.get(
            "/registry/token", auth=("_", "moor_bad"), headers={"Authorization": ""}
        ).status_code
        == 401
    )


def test_openapi_is_served(api: TestClient) -> None:
    assert "/apps/{ident}/formation" in api.get("/openapi.json").json()["paths"]


def test_groups_validate_names_and_aliases(api: TestClient, reconciler: object) -> None:
    for name in ("grp-one", "grp-two"):
        assert api.post("/apps", json={"name": name}).status_code == 201
    ok = api.patch("/apps/grp-one", json={"moorage": {"group": "shop", "aliases": ["carts"]}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["moorage"]["internal_host"] == "grp-one.internal"
    clash = api.patch("/apps/grp-two", json={"moorage": {"group": "shop", "aliases": ["carts"]}})
    assert clash.status_code == 409 and "grp-one" in clash.json()["message"]
    same = api.patch(
        "/apps/grp-two", json={"moorage": {"group": "shop", "aliases": ["grp-one.internal"]}}
    )
    assert same.status_code == 409
    assert api.patch("/apps/grp-two", json={"moorage": {"group": "Bad_Name"}}).status_code == 422
    assert (
        api.patch("/apps/grp-two", json={"moorage": {"group": None, "aliases": ["x"]}}).status_code
        == 422
    )
    assert api.patch("/apps/grp-two", json={}).status_code == 422
    left = api.patch("/apps/grp-one", json={"moorage": {"group": None}})
    assert left.json()["moorage"] == {
        "group": None,
        "aliases": [],
        "internal_host": None,
        "origin": None,
    }


def test_domains_are_unique_and_outside_the_platform_domain(api: TestClient) -> None:
    for name in ("dom-one", "dom-two"):
        api.post("/apps", json={"name": name})
    added = api.post("/apps/dom-one/domains", json={"hostname": "WWW.Example.COM."})
    assert added.status_code == 201 and added.json()["hostname"] == "www.example.com"
    assert added.json()["cname"] == "dom-one.moorage.localhost"
    taken = api.post("/apps/dom-two/domains", json={"hostname": "www.example.com"})
    assert taken.status_code == 409 and "dom-one" in taken.json()["message"]
    own = api.post("/apps/dom-two/domains", json={"hostname": "x.moorage.localhost"})
    assert own.status_code == 409
    for bad in ("localhost", "bad_host.example.com", ""):
        assert api.post("/apps/dom-two/domains", json={"hostname": bad}).status_code == 422
    listed = [d["hostname"] for d in api.get("/apps/dom-one/domains").json()]
    assert listed == ["dom-one.moorage.localhost", "www.example.com"]
    assert api.delete("/apps/dom-one/domains/www.example.com").status_code == 200
    assert api.delete("/apps/dom-one/domains/www.example.com").status_code == 404


def test_exec_websocket_of_a_missing_app_is_refused_not_crashed(api: TestClient) -> None:
    """The API routers' body check must leave WebSocket routes (exec, attach) alone."""
    from starlette.testclient import WebSocketDenialResponse
    from starlette.websockets import WebSocketDisconnect

    for action in ("exec", "attach"):
        try:
            with api.websocket_connect(f"/apps/nope/dynos/web.1/{action}") as ws:
                ws.receive_text()
        except WebSocketDenialResponse as denied:
            assert denied.status_code == 404
        except WebSocketDisconnect as closed:
            assert closed.code != 1011  # 1011: the server crashed
        else:
            raise AssertionError(f"{action} of a missing app was accepted")


def test_registry_token_for_swarm_nodes_grants_pulls_only(
    api: TestClient, platform: Platform
) -> None:
    import jwt

    from moorage.server.engines import node_password

    api.post("/apps", json={"name": "pulled"})
    node = ("moorage-node", node_password(platform.secret))
    scopes = ["repository:pulled/web:push,pull", "repository:nosuchapp/web:pull"]
    r = api.get(
        "/registry/token", params={"scope": scopes}, auth=node, headers={"Authorization": ""}
    )
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["token"], options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": "pulled/web", "actions": ["pull"]}]
    bad = api.get(
        "/registry/token",
        params={"scope": scopes},
        auth=("moorage-node", "guess"),
        headers={"Authorization": ""},
    )
    assert bad.status_code == 401 and "node credentials" in bad.text


def test_an_app_remembers_the_import_that_made_it(api: TestClient) -> None:
    made = api.post("/apps", json={"name": "imp-one", "moorage": {"origin": "k8s:0123456789ab"}})
    assert made.status_code == 201 and made.json()["moorage"]["origin"] == "k8s:0123456789ab"
    plain = api.post("/apps", json={"name": "imp-two"}).json()
    assert plain["moorage"]["origin"] is None
    adopted = api.patch("/apps/imp-two", json={"moorage": {"origin": "k8s:0123456789ab"}})
    assert adopted.json()["moorage"]["origin"] == "k8s:0123456789ab"
    bad = api.post("/apps", json={"name": "imp-three", "moorage": {"origin": "Bad Origin!"}})
    assert bad.status_code == 422 and api.get("/apps/imp-three").status_code == 404


def test_a_private_app_is_not_on_the_router(api: TestClient, platform: Platform) -> None:
    made = api.post("/apps", json={"name": "priv-one", "internal_routing": True}).json()
    assert made["internal_routing"] is True and made["web_url"] is None
    from moorage.server.background.desired import Desired, desired_for
    from moorage.server.store.models import App

    def routed() -> set[str]:
        want = Desired()
        with platform.store.session() as s:
            for app in s.query(App).filter(App.name == "priv-one"):
                desired_for(app, None, want)
        return want.web_apps

    assert routed() == set()
    public = api.patch("/apps/priv-one", json={"internal_routing": False}).json()
    assert public["internal_routing"] is False and public["web_url"]
    assert routed() == {"priv-one"}
    assert api.patch("/apps/priv-one", json={"internal_routing": "yes"}).status_code == 422
