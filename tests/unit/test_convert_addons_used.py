"""Add-ons where they are used (issue 18 item 8): attached only to the apps that reference
the workload an add-on replaces, one add-on per replaced workload, provisioned by the first
app that uses it and attached to the others."""

from __future__ import annotations

from moorage.convert.importer import Current, addon_owners, plan_app
from moorage.convert.plan import convert
from tests.unit.test_convert_plan import app_named, deployment, env, obj, service


def test_only_the_apps_that_reach_the_database_get_its_addon() -> None:
    db = deployment("pg", "postgres:15", ports=[{"containerPort": 5432}])
    db["spec"]["template"]["spec"]["containers"][0]["env"] = env(
        POSTGRES_USER="app", POSTGRES_PASSWORD="pw-1234", POSTGRES_DB="app"
    )
    url = "postgres://app:pw-1234@pg:5432/app"
    objects = [
        obj(db),
        obj(service("pg", port=5432, target=5432)),
        obj(deployment("api", env=env(DATABASE_URL=url))),
        obj(service("api")),
        obj(deployment("admin", "example/admin:1", env=env(DATABASE_URL=url))),
        obj(service("admin")),
        obj(deployment("static", "example/static:1", env=env(GREETING="hi"))),
        obj(service("static")),
    ]
    c = convert(objects)
    uses = {a.name: [(n.service, n.attachment) for n in a.addons] for a in c.apps}
    assert uses["api"] == uses["admin"] == [("postgresql", "DATABASE")]
    assert uses["static"] == []
    owners = addon_owners(c.apps)
    assert list(owners.values()) == [next(a.name for a in c.apps if a.addons)]  # the first
    owner = owners[("postgresql", "DATABASE")]
    other = "admin" if owner == "api" else "api"
    [provision] = [
        s for s in plan_app(app_named(c, owner), Current(), c.group, owners) if "addon" in s.path
    ]
    assert provision.path == f"/apps/{owner}/addons"
    [attach] = [
        s for s in plan_app(app_named(c, other), Current(), c.group, owners) if "addon" in s.path
    ]
    assert attach.path == "/addon-attachments" and attach.body["addon"] == f"{owner}::DATABASE"
    assert not [
        s for s in plan_app(app_named(c, "static"), Current(), c.group, owners) if "addon" in s.path
    ]


def test_a_database_no_app_names_gets_no_addon_and_a_warning() -> None:
    from moorage.convert.kinds.addons import attach_unreferenced
    from moorage.convert.kinds.databases import Database
    from moorage.convert.model import AppPlan, Finding, Source

    chart = Source("Chart.yaml", 1, "Chart", "postgresql")
    dbs = [Database("postgresql", "postgresql", "DATABASE", {"postgresql"}, "postgresql", [chart])]
    plans, findings = [AppPlan("web"), AppPlan("worker")], list[Finding]()
    attach_unreferenced(dbs, plans, findings)
    assert [p.addons for p in plans] == [[], []]
    [warning] = findings
    assert warning.severity == "warning" and "moor addons:create postgresql" in warning.todo
