from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from fastapi.testclient import TestClient

from moorage.server.background.reconciler import Reconciler
from moorage.server.platform import Platform
from moorage.spec.dyno import DynoEvent
from tests.unit.fakes import FakeRouter, FakeRuntime


def _release(api: TestClient, platform: Platform, app: str, n: int) -> None:
    image = platform.registry.push(app, "web", n)  # type: ignore[attr-defined]
    resp = api.patch(
        f"/apps/{app}/formation", json={"updates": [{"type": "web", "docker_image": image}]}
    )
    assert resp.status_code == 200, resp.text


def _status(api: TestClient, app: str) -> list[tuple[int, str]]:
    return [(r["version"], r["status"]) for r in api.get(f"/apps/{app}/releases").json()]


def settle(reconciler: Reconciler) -> None:
    """One pass, its rollouts, and the pass that routes their result."""
    for _ in range(2):
        reconciler.run_once()
        reconciler.wait_idle()
    reconciler._drainer.shutdown(wait=True)
    reconciler._drainer = ThreadPoolExecutor(max_workers=2)


def _deployed(api: TestClient, platform: Platform, reconciler: Reconciler) -> FakeRuntime:
    """App ``demo`` with web released from image 1 and reconciled once."""
    api.post("/apps", json={"name": "demo"})
    _release(api, platform, "demo", 1)
    settle(reconciler)
    runtime: FakeRuntime = reconciler.runtime  # type: ignore[assignment]
    return runtime


def test_release_starts_dynos_routes_them_and_succeeds(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    api.post("/apps", json={"name": "demo"})
    api.patch("/apps/demo/config-vars", json={"GREETING": "hi"})
    _release(api, platform, "demo", 1)
    settle(reconciler)
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
    settle(reconciler)
    new = runtime.dynos["demo.web.1"]
    assert new.id != old.id and new.release == 2
    assert old.id in runtime.stopped


def test_the_switch_routes_new_dynos_a_runtime_placed_after_start_returned(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    runtime = _deployed(api, platform, reconciler)
    runtime.placed_late = True  # Swarm: start() returns before the task runs
    old = runtime.dynos["demo.web.1"]
    router: FakeRouter = reconciler.router  # type: ignore[assignment]
    api.patch("/apps/demo/config-vars", json={"GREETING": "hello"})
    reconciler.run_once()
    reconciler.wait_idle()  # the rollout, not yet the next pass
    new = runtime.dynos["demo.web.1"]
    assert new.id != old.id
    assert [r.backends for r in router.routes] == [(f"{new.ip}:8080",)]  # never none


def test_failed_boot_marks_release_failed_and_keeps_old_serving(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    runtime = _deployed(api, platform, reconciler)
    old = runtime.dynos["demo.web.1"]
    runtime.broken_images.add("registry.test/demo/web@sha256:" + "m" * 63 + "2")
    _release(api, platform, "demo", 2)
    settle(reconciler)
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
    settle(reconciler)
    runtime: FakeRuntime = reconciler.runtime  # type: ignore[assignment]
    assert sorted(runtime.dynos) == ["demo.web.1", "demo.web.2", "demo.web.3"]
    api.patch("/apps/demo/formation/web", json={"quantity": 1})
    settle(reconciler)
    assert sorted(runtime.dynos) == ["demo.web.1"]
    api.delete("/apps/demo")
    settle(reconciler)
    assert runtime.removed_apps == ["demo"]
    assert reconciler.router.routes == []  # type: ignore[attr-defined]


def test_crashed_dyno_leaves_the_router_until_ready_again(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    from dataclasses import replace

    runtime = _deployed(api, platform, reconciler)
    router: FakeRouter = reconciler.router  # type: ignore[assignment]
    web = runtime.dynos["demo.web.1"]
    runtime.dynos["demo.web.1"] = replace(web, state="crashed", exit_code=3)
    settle(reconciler)
    assert router.routes[0].backends == ()  # the 503 "Application error" page
    assert runtime.dynos["demo.web.1"].id == web.id  # the engine restarts it, not us
    runtime.dynos["demo.web.1"] = replace(web, state="up", started_at="t1")
    settle(reconciler)
    assert router.routes[0].backends == (f"{web.ip}:8080",)


def test_release_phase_runs_first_and_a_failure_aborts_the_release(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    runtime = _deployed(api, platform, reconciler)
    old = runtime.dynos["demo.web.1"]
    with platform.store.session() as s:
        from moorage.server.store.models import Release

        rel = s.query(Release).filter(Release.version == 1).one()
        images = dict(rel.images)
    for n, (cmd, code, status) in enumerate(
        [("migrate", 0, "succeeded"), ("broken", 3, "failed")], start=2
    ):
        runtime.exit_codes[cmd] = code
        with platform.store.session() as s:
            from moorage.server.services import apps, releases

            app = apps.all_apps(s)[0]
            r = releases.create(
                s, app, app.owner, f"phase {cmd}", images={"release": images["web"]}
            )
            r.release_command = cmd
            app.config = {**app.config, "N": str(n)}
            r.config = dict(app.config)
        settle(reconciler)
        assert runtime.oneoffs[-1].command == [cmd]
        rel_json = api.get(f"/apps/demo/releases/v{n}").json()
        assert rel_json["status"] == status, rel_json
    assert "exited with status 3" in api.get("/apps/demo/releases/v3").json()["status_reason"]
    assert runtime.dynos["demo.web.1"].release == 2 and runtime.dynos["demo.web.1"].id != old.id


def test_a_fresh_server_keeps_dynos_a_killed_one_was_replacing_until_new_ones_route(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    """kill -9 between retire and boot: the old dyno (renamed .retiring-) is what serves."""
    runtime = _deployed(api, platform, reconciler)
    old = runtime.dynos["demo.web.1"]
    api.patch("/apps/demo/config-vars", json={"GREETING": "hello"})
    runtime.retire(old)  # what the killed server had done
    fresh = Reconciler(platform.store, runtime, FakeRouter(), platform.settings, emit=platform.emit)
    fresh.settle_seconds = 0
    router: FakeRouter = fresh.router  # type: ignore[assignment]
    fresh.run_once()  # the first pass: a rollout starts; the old dyno stays routed
    assert [r.backends for r in router.routes if r.app == "demo"] == [(f"{old.ip}:8080",)]
    fresh.wait_idle()
    settle(fresh)
    new = runtime.dynos["demo.web.1"]
    assert new.id != old.id
    assert [r.backends for r in router.routes if r.app == "demo"] == [(f"{new.ip}:8080",)]
    assert old.id in runtime.stopped and runtime.list_retiring() == []


def test_a_fresh_server_starts_over_a_dyno_a_killed_one_created_but_never_started(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    """kill -9 between create and start: nothing would ever start that container (found by
    tests/faults/test_server_kill.py: web.2 "starting" for 90 s)."""
    runtime = _deployed(api, platform, reconciler)
    old = runtime.dynos["demo.web.1"]
    runtime.dynos["demo.web.1"] = replace(old, state="starting", never_started=True)
    fresh = Reconciler(platform.store, runtime, FakeRouter(), platform.settings, emit=platform.emit)
    fresh.settle_seconds = 0
    settle(fresh)
    new = runtime.dynos["demo.web.1"]
    assert new.id != old.id and new.state == "up" and not new.never_started
    assert [d.state for d in fresh.dynos("demo")] == ["up"]


def test_a_one_off_nobody_attached_to_is_removed_and_says_why(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    """Issue 24 item 5: a run.N created for a client that never attached does not stay."""
    runtime = _deployed(api, platform, reconciler)
    said: list[str] = []
    reconciler.emit = lambda app, process, message: said.append(f"{process}: {message}")
    fresh = replace(
        runtime.dynos["demo.web.1"],
        id="o-new",
        type="run",
        number=1,
        state="starting",
        oneoff=True,
        created_at="2999-01-01T00:00:00Z",
    )
    stale = replace(fresh, id="o-old", number=2, created_at="2020-01-01T00:00:00Z")
    runtime.dynos["demo.run.1"], runtime.dynos["demo.run.2"] = fresh, stale
    reconciler.run_once()
    assert "o-old" in runtime.stopped and "o-new" not in runtime.stopped
    assert any(s.startswith("run.2: Error: no client attached") for s in said)


def test_a_crashed_dyno_that_is_gone_leaves_the_reconciler_at_rest(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    """A dyno that died on its own keeps passes coming every few seconds until it restarts;
    once it is removed (its app destroyed) the reconciler goes back to its idle pace."""
    runtime = _deployed(api, platform, reconciler)
    dyno = runtime.dynos["demo.web.1"]
    reconciler.on_event(DynoEvent(dyno=dyno, action="die", time=0.0))
    assert reconciler.in_motion()
    api.delete("/apps/demo")
    settle(reconciler)  # the pass hands the removal to the drain pool, settle waits for it
    assert runtime.removed_apps == ["demo"]
    reconciler.run_once()
    assert not reconciler.in_motion()


def test_a_leaving_node_loses_its_routes_before_the_engine_moves_its_dynos(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    runtime = _deployed(api, platform, reconciler)
    router: FakeRouter = reconciler.router  # type: ignore[assignment]
    api.patch("/apps/demo/formation/web", json={"quantity": 2})
    settle(reconciler)
    one, two = runtime.dynos["demo.web.1"], runtime.dynos["demo.web.2"]
    runtime.dynos[one.name] = replace(one, node="node-2")
    runtime.dynos[two.name] = replace(two, node="node-3")
    runtime.leaving.add("node-2")  # `moor nodes:drain node-2`
    reconciler.run_once()  # one pass: routes, then the hand-over
    reconciler._drainer.shutdown(wait=True)
    assert [r.backends for r in router.routes] == [(f"{two.ip}:{two.port}",)]
    assert "hand over node-2" in runtime.events and not runtime.leaving
    assert one.id not in runtime.stopped  # the engine moves it, not the reconciler


def test_an_app_whose_dynos_are_all_on_a_leaving_node_keeps_its_route(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    runtime = _deployed(api, platform, reconciler)
    router: FakeRouter = reconciler.router  # type: ignore[assignment]
    one = runtime.dynos["demo.web.1"]
    runtime.dynos[one.name] = replace(one, node="node-2")
    runtime.leaving.add("node-2")
    reconciler.run_once()
    reconciler._drainer.shutdown(wait=True)
    assert [r.backends for r in router.routes] == [(f"{one.ip}:{one.port}",)]
    assert "hand over node-2" in runtime.events
