from fastapi.testclient import TestClient

from moorage.server.platform import Platform
from moorage.server.reconciler import Reconciler
from tests.unit.fakes import FakeRouter, FakeRuntime


def _release(api: TestClient, platform: Platform, app: str, n: int) -> None:
    image = platform.registry.push(app, "web", n)  # type: ignore[attr-defined]
    resp = api.patch(
        f"/apps/{app}/formation", json={"updates": [{"type": "web", "docker_image": image}]}
    )
    assert resp.status_code == 200, resp.text


def _status(api: TestClient, app: str) -> list[tuple[int, str]]:
    return [(r["version"], r["status"]) for r in api.get(f"/apps/{app}/releases").json()]


def _deployed(api: TestClient, platform: Platform, reconciler: Reconciler) -> FakeRuntime:
    """App ``demo`` with web released from image 1 and reconciled once."""
    api.post("/apps", json={"name": "demo"})
    _release(api, platform, "demo", 1)
    reconciler.run_once()
    runtime: FakeRuntime = reconciler.runtime  # type: ignore[assignment]
    return runtime


def test_release_starts_dynos_routes_them_and_succeeds(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    api.post("/apps", json={"name": "demo"})
    api.patch("/apps/demo/config-vars", json={"GREETING": "hi"})
    _release(api, platform, "demo", 1)
    reconciler.run_once()
    runtime: FakeRuntime = reconciler.runtime  # type: ignore[assignment]
    router: FakeRouter = reconciler.router  # type: ignore[assignment]
    dyno = runtime.dynos["demo.web.1"]
    assert dyno.release == 2 and dyno.port == 8080
    assert [(r.app, r.backends) for r in router.routes] == [("demo", (f"{dyno.ip}:8080",))]
    assert _status(api, "demo") == [(1, "succeeded"), (2, "succeeded")]


def test_config_change_replaces_dyno_after_new_one_is_ready(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    runtime = _deployed(api, platform, reconciler)
    old = runtime.dynos["demo.web.1"]
    api.patch("/apps/demo/config-vars", json={"GREETING": "hello"})
    reconciler.run_once()
    reconciler._drainer.shutdown(wait=True)
    new = runtime.dynos["demo.web.1"]
    assert new.id != old.id and new.release == 2
    assert old.id in runtime.stopped


def test_failed_boot_marks_release_failed_and_keeps_old_serving(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    runtime = _deployed(api, platform, reconciler)
    old = runtime.dynos["demo.web.1"]
    runtime.broken_images.add("registry.test/demo/web@sha256:" + "m" * 63 + "2")
    _release(api, platform, "demo", 2)
    reconciler.run_once()
    assert runtime.dynos["demo.web.1"].id == old.id
    rel = api.get("/apps/demo/releases/v2").json()
    assert rel["status"] == "failed" and "exited with status 1" in rel["status_reason"]
    assert api.get("/apps/demo/releases/v1").json()["current"] is True
    reconciler.run_once()  # the next pass leaves the good release alone
    assert runtime.dynos["demo.web.1"].id == old.id


def test_scale_up_down_and_delete(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    api.post("/apps", json={"name": "demo"})
    _release(api, platform, "demo", 1)
    api.patch("/apps/demo/formation/web", json={"quantity": 3})
    reconciler.run_once()
    runtime: FakeRuntime = reconciler.runtime  # type: ignore[assignment]
    assert sorted(runtime.dynos) == ["demo.web.1", "demo.web.2", "demo.web.3"]
    api.patch("/apps/demo/formation/web", json={"quantity": 1})
    reconciler.run_once()
    reconciler._drainer.shutdown(wait=True)
    assert sorted(runtime.dynos) == ["demo.web.1"]
    api.delete("/apps/demo")
    reconciler.run_once()
    assert runtime.removed_apps == ["demo"]
    assert reconciler.router.routes == []  # type: ignore[attr-defined]


def test_crashed_dyno_restarts_with_backoff(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    from dataclasses import replace

    runtime = _deployed(api, platform, reconciler)
    runtime.dynos["demo.web.1"] = replace(runtime.dynos["demo.web.1"], state="crashed", exit_code=3)
    reconciler.run_once()
    reconciler.run_once()  # within the backoff window: no second restart
    assert runtime.restarts == ["demo.web.1"]
