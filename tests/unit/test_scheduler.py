from dataclasses import replace
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from moorage.server.background.reconciler import Reconciler
from moorage.server.background.scheduler import Scheduler
from moorage.server.platform import Platform
from tests.unit.fakes import FakeRuntime
from tests.unit.test_reconciler import _deployed


def test_schedule_fires_at_its_time_and_forbids_overlap(
    api: TestClient, platform: Platform, reconciler: Reconciler
) -> None:
    runtime: FakeRuntime = _deployed(api, platform, reconciler)
    resp = api.post("/apps/demo/schedules", json={"schedule": "*/5 * * * *", "command": "job"})
    assert resp.status_code == 201, resp.text
    created = datetime.fromisoformat(resp.json()["created_at"].rstrip("Z"))
    now = [created + timedelta(seconds=1)]
    sched = Scheduler(
        platform.store, reconciler, platform.sessions, platform.emit, clock=lambda: now[0]
    )
    first_due = created.replace(second=0) + timedelta(minutes=5 - created.minute % 5)
    now[0] = first_due - timedelta(seconds=1)
    assert sched.tick() == 0
    now[0] = first_due
    assert sched.tick() == 1
    assert runtime.oneoffs[-1].command == ["job"] and runtime.oneoffs[-1].type == "scheduler"
    now[0] = first_due + timedelta(minutes=5)  # the first run is still up: forbid skips
    assert sched.tick() == 0
    row = api.get("/apps/demo/schedules").json()[0]
    assert row["last_status"].startswith("skipped: scheduler.1 still running")
    name = runtime.oneoffs[-1].name
    runtime.dynos[name] = replace(runtime.dynos[name], state="down")
    now[0] = first_due + timedelta(minutes=10)
    assert sched.tick() == 1
    lines = platform.logs.tail("demo", 50, source="moorage")
    assert any("Skipped `job`" in x for x in lines)


def test_bad_schedules_are_refused(api: TestClient, platform: Platform) -> None:
    api.post("/apps", json={"name": "demo"})
    for body, text in [
        ({"schedule": "every day", "command": "x"}, "is not a cron schedule"),
        ({"schedule": "* * * * *", "command": " "}, "Give the command"),
        ({"schedule": "* * * * *", "command": "x", "size": "huge"}, "Unknown dyno size"),
    ]:
        resp = api.post("/apps/demo/schedules", json=body)
        assert resp.status_code == 422 and text in resp.json()["message"], resp.text
