"""Persistent volumes from pods (issue 18 items 4 and 5): claims, and a data store's
emptyDir, become volumes of the app, mounted in the process, which then runs one dyno."""

from __future__ import annotations

from typing import Any

from moorage.convert.importer import Current, plan_app
from moorage.convert.model import AppPlan, Process, VolumeNeed
from moorage.convert.plan import convert
from tests.unit.test_convert_plan import about, app_named, deployment, obj, service


def _with_volumes(doc: dict[str, Any], mounts: dict[str, str], **volumes: Any) -> dict[str, Any]:
    pod = doc["spec"]["template"]["spec"]
    pod["containers"][0]["volumeMounts"] = [{"name": n, "mountPath": p} for n, p in mounts.items()]
    pod["volumes"] = [{"name": n, **v} for n, v in volumes.items()]
    return doc


def test_a_database_keeps_its_emptydir_as_a_volume_and_a_web_app_does_not() -> None:
    db = _with_volumes(
        deployment("db", "postgres:15", ports=[{"containerPort": 5432}]),
        {"pgdata": "/var/lib/postgresql/data"},
        pgdata={"emptyDir": {}},
    )
    web = _with_volumes(deployment("web"), {"cache": "/cache"}, cache={"emptyDir": {}})
    c = convert(
        [obj(db), obj(service("db", port=5432, target=5432)), obj(web), obj(service("web"))]
    )
    [volume] = app_named(c, "db-app").volumes
    assert (volume.name, volume.path, volume.process_type) == (
        "pgdata",
        "/var/lib/postgresql/data",
        "web",
    )
    assert app_named(c, "web").volumes == []
    assert any("persistent volume pgdata" in f.why for f in about(c, "Deployment", "db"))


def test_a_statefulset_claim_template_becomes_a_volume_and_one_replica() -> None:
    sts = deployment("queue", "rabbitmq:3", ports=[{"containerPort": 5672}])
    sts["kind"] = "StatefulSet"
    sts["spec"]["replicas"] = 3
    sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/var/lib/rabbitmq"}
    ]
    sts["spec"]["volumeClaimTemplates"] = [
        {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "5Gi"}}}}
    ]
    claim = _with_volumes(
        deployment("files"),
        {"up": "/srv/uploads"},
        up={"persistentVolumeClaim": {"claimName": "Uploads_1"}},
    )
    c = convert(
        [obj(sts), obj(service("queue", port=5672, target=5672)), obj(claim), obj(service("files"))]
    )
    queue = app_named(c, "queue")
    assert [(v.name, v.path, v.size) for v in queue.volumes] == [
        ("data", "/var/lib/rabbitmq", "5GB")
    ]
    assert [p.quantity for p in queue.processes] == [1]
    assert any("runs one dyno" in f.why for f in about(c, "StatefulSet", "queue", "warning"))
    [upload] = app_named(c, "files").volumes
    assert (upload.name, upload.path, upload.size) == ("uploads-1", "/srv/uploads", "1GB")


def test_the_import_creates_and_mounts_volumes_once() -> None:
    plan = AppPlan("db", processes=[Process("web", "postgres:15", None)])
    plan.volumes = [VolumeNeed("pgdata", "/var/lib/postgresql/data", "web", "2GB")]
    [create] = [s for s in plan_app(plan, Current(), "g") if "volumes" in s.path]
    assert (create.method, create.path) == ("POST", "/apps/db/volumes")
    assert create.body == {
        "name": "pgdata",
        "size": "2GB",
        "process_type": "web",
        "path": "/var/lib/postgresql/data",
    }
    same = Current(exists=True, volumes={"pgdata": ("web", "/var/lib/postgresql/data")})
    assert not [s for s in plan_app(plan, same, None) if "volumes" in s.path]
    moved = Current(exists=True, volumes={"pgdata": (None, None)})
    [mount] = [s for s in plan_app(plan, moved, None) if "volumes" in s.path]
    assert (mount.method, mount.path) == ("PATCH", "/apps/db/volumes/pgdata")
