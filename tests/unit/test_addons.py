"""Add-ons through the API with a fake provider: attachments, destroy rules, rotation."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from moorage.server.platform import Platform
from moorage.server.services import addons as service
from moorage.server.services import backups
from moorage.server.store.models import Addon, App, Backup
from tests.unit.fakes import FakeProvider


@pytest.fixture
def provider(platform: Platform) -> FakeProvider:
    fake = FakeProvider()
    platform.providers.update({"postgresql": fake, "redis": FakeProvider("redis", "REDIS")})
    return fake


def _config(api: TestClient, app: str) -> dict[str, str]:
    resp = api.get(f"/apps/{app}/config-vars")
    assert resp.status_code == 200
    return dict(resp.json())


def test_create_with_an_attachment_name_and_clashes(
    api: TestClient, provider: FakeProvider
) -> None:
    api.post("/apps", json={"name": "web"})
    first = api.post("/apps/web/addons", json={"plan": "heroku-postgresql"}).json()
    assert first["config_vars"] == ["DATABASE_URL"]
    clash = api.post("/apps/web/addons", json={"plan": "postgresql"})
    assert clash.status_code == 409 and "--as" in clash.json()["message"]
    second = api.post(
        "/apps/web/addons", json={"plan": "postgresql", "attachment": {"name": "analytics"}}
    ).json()
    assert second["config_vars"] == ["ANALYTICS_URL"]
    config = _config(api, "web")
    assert config["DATABASE_URL"] != config["ANALYTICS_URL"]
    named = api.post("/apps/web/addons", json={"plan": "redis", "name": second["name"]})
    assert named.status_code == 409
    unknown = api.post("/apps/web/addons", json={"plan": "mongodb"})
    assert unknown.status_code == 422 and "postgresql" in unknown.json()["message"]
    bad = api.post("/apps/web/addons", json={"plan": "redis", "attachment": {"name": "1x"}})
    assert bad.status_code == 422


def test_attach_detach_and_destroy_rules(api: TestClient, provider: FakeProvider) -> None:
    api.post("/apps", json={"name": "owner"})
    api.post("/apps", json={"name": "other"})
    addon = api.post("/apps/owner/addons", json={"plan": "postgresql"}).json()["name"]
    att = api.post("/addon-attachments", json={"addon": addon, "app": "other", "name": "SHARED"})
    assert att.status_code == 201, att.text
    assert _config(api, "other")["SHARED_URL"] == _config(api, "owner")["DATABASE_URL"]
    assert [a["name"] for a in api.get("/apps/other/addons").json()] == [addon]
    refused = api.delete(f"/apps/owner/addons/{addon}")
    assert refused.status_code == 409 and "other" in refused.json()["message"]
    assert provider.resources, "nothing may be deprovisioned when the destroy is refused"
    own = api.delete(f"/apps/owner/addon-attachments/{addon}")
    assert own.status_code == 409
    assert api.delete(f"/apps/other/addon-attachments/{addon}").status_code == 200
    assert "SHARED_URL" not in _config(api, "other")
    assert api.delete(f"/apps/owner/addons/{addon}").status_code == 200
    assert provider.resources == {} and "DATABASE_URL" not in _config(api, "owner")


def test_force_destroy_detaches_everywhere(api: TestClient, provider: FakeProvider) -> None:
    api.post("/apps", json={"name": "app-one"})
    api.post("/apps", json={"name": "app-two"})
    addon = api.post("/apps/app-one/addons", json={"plan": "postgresql"}).json()["name"]
    api.post("/addon-attachments", json={"addon": addon, "app": "app-two"})
    assert api.delete(f"/apps/app-one/addons/{addon}?force=true").status_code == 200
    assert "DATABASE_URL" not in _config(api, "app-two")


def test_rotation_releases_every_app_and_retires_when_settled(
    api: TestClient, provider: FakeProvider, platform: Platform
) -> None:
    api.post("/apps", json={"name": "rot-one"})
    api.post("/apps", json={"name": "rot-two"})
    addon = api.post("/apps/rot-one/addons", json={"plan": "postgresql"}).json()["name"]
    api.post("/addon-attachments", json={"addon": addon, "app": "rot-two"})
    old = _config(api, "rot-one")["DATABASE_URL"]
    made = api.post("/apps/rot-one/addons/DATABASE/actions/rotate-credentials").json()
    assert sorted(r["app"]["name"] for r in made) == ["rot-one", "rot-two"]
    new = _config(api, "rot-one")["DATABASE_URL"]
    assert new != old and _config(api, "rot-two")["DATABASE_URL"] == new
    resource = next(iter(provider.resources))
    assert provider.resources[resource] == [old, new]  # both work during the rollout
    with platform.store.session() as s:
        assert service.finish_rotations(s, platform.providers, lambda app: False) == []
    assert provider.resources[resource] == [old, new]
    with platform.store.session() as s:
        assert service.finish_rotations(s, platform.providers, lambda app: True) == [
            (addon, "rot-one"),
            (addon, "rot-two"),
        ]
    assert provider.resources[resource] == [new]


def test_backup_schedule_times_and_retention() -> None:
    assert backups.parse_at("2:05 Europe/Paris") == (2, 5, "Europe/Paris")
    with pytest.raises(Exception, match="HH:MM"):
        backups.parse_at("25:00")
    with pytest.raises(Exception, match="time zone"):
        backups.parse_at("02:00 Mars/Olympus")
    sched = {"at": "02:00", "tz": "Europe/Paris", "keep": 2}
    # 02:00 in Paris is 01:00 UTC in winter
    assert backups.next_due(sched, datetime(2026, 11, 26, 0, 30)) == datetime(2026, 11, 26, 1, 0)
    assert backups.next_due(sched, datetime(2026, 11, 26, 1, 0)) == datetime(2026, 11, 27, 1, 0)
    addon = Addon(name="x", service="postgresql", plan="p", resource="r", backup_schedule=sched)
    addon.app = App(name="a", owner_id="u")
    statuses = ["completed", "failed", "completed", "completed", "failed"]
    addon.backups = [Backup(num=i + 1, status=st) for i, st in enumerate(statuses)]
    assert [b.num for b in backups.expired(addon)] == [1, 2]


def test_an_addon_made_in_a_change_that_rolls_back_is_deprovisioned(
    platform: Platform, provider: FakeProvider
) -> None:
    """A review app's second add-on fails after its first was made: the rows roll back,
    and the first database does not stay on the server unlisted."""
    from moorage.server.services import apps, auth

    with platform.store.session() as s:
        user = auth.ensure_user(s, "two@example.test")
        apps.create(s, user, "kept")
    with pytest.raises(RuntimeError), platform.store.session() as s:
        user = auth.ensure_user(s, "two@example.test")
        app = apps.create(s, user, "rolled-back")
        service.create(s, app, user, "postgresql", platform.providers)
        assert len(provider.resources) == 1
        raise RuntimeError("the second add-on failed")
    assert provider.resources == {}
    with platform.store.session() as s:
        user = auth.ensure_user(s, "two@example.test")
        service.create(s, apps.get(s, user, "kept"), user, "postgresql", platform.providers)
    assert len(provider.resources) == 1  # committed: kept


def test_a_rollback_keeps_the_addons_variables_of_now(
    api: TestClient, platform: Platform, provider: FakeProvider
) -> None:
    api.post("/apps", json={"name": "rollbk"})
    api.post("/apps/rollbk/addons", json={"plan": "postgresql"})
    image = platform.registry.push("rollbk", "web", 1)  # type: ignore[attr-defined]
    api.patch("/apps/rollbk/formation", json={"updates": [{"type": "web", "docker_image": image}]})
    listed = api.get("/apps/rollbk/releases")
    assert listed.status_code == 200, listed.text
    deploy = max(r["version"] for r in listed.json())
    api.patch("/apps/rollbk/config-vars", json={"GREETING": "hello"})
    old = _config(api, "rollbk")["DATABASE_URL"]
    api.post("/apps/rollbk/addons/DATABASE/actions/rotate-credentials")
    api.post("/apps/rollbk/addons", json={"plan": "redis"})
    now = _config(api, "rollbk")
    assert now["DATABASE_URL"] != old
    back = api.post("/apps/rollbk/releases", json={"release": str(deploy)})
    assert back.status_code == 201, back.text
    config = _config(api, "rollbk")
    assert "GREETING" not in config  # the user's config is the deploy's
    assert config["DATABASE_URL"] == now["DATABASE_URL"]  # not the rotated-away credentials
    assert config["REDIS_URL"] == now["REDIS_URL"]  # nor is the add-on attached since lost
