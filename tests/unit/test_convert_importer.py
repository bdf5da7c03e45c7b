"""k8s:import planning: the steps against what exists, idempotent, secrets never shown."""

from __future__ import annotations

from moorage.convert.importer import Current, foreign, plan_app, shared_values, url_parts
from moorage.convert.model import AddonNeed, AppPlan, ConfigVar, Process, ScheduledJob


def _plan() -> AppPlan:
    return AppPlan(
        name="shop-web",
        processes=[
            Process(
                "web",
                "shop/web:1",
                None,
                quantity=2,
                size="standard-1x",
                port=8080,
                check_path="/healthz",
            ),
            Process("worker", "shop/worker:1", "python worker.py", quantity=1),
        ],
        config=[
            ConfigVar("GREETING", "hi"),
            ConfigVar("SESSION_SECRET", None, secret=True),
        ],
        addons=[
            AddonNeed(
                "postgresql",
                "DATABASE",
                rewrites={"POSTGRES_HOST": "{host}", "POSTGRES_PASSWORD": "{password}"},
            ),
        ],
        schedules=[ScheduledJob("report", "0 * * * *", "python report.py")],
        aliases=["storefront"],
    )


def test_a_new_app_gets_every_step_and_no_secret_in_the_text() -> None:
    steps = plan_app(_plan(), Current(), "shop")
    whats = [s.what for s in steps]
    assert whats[0] == "create app shop-web"
    assert any("group shop" in w for w in whats)
    assert any("postgresql as DATABASE_URL" in w for w in whats)
    config = next(s for s in steps if s.path.endswith("/config-vars"))
    assert config.body["GREETING"] == "hi" and len(config.body["SESSION_SECRET"]) >= 24
    assert config.body["SESSION_SECRET"] not in " ".join(whats)
    assert "POSTGRES_HOST" not in config.body  # needs the add-on's URL: second pass
    declare, scale = [s for s in steps if s.path.endswith("/formation")]
    assert [u["type"] for u in declare.body["updates"]] == ["web", "worker"]
    web = scale.body["updates"][0]
    assert (web["quantity"], web["size"], web["port"], web["check_path"]) == (
        2,
        "standard-1x",
        8080,
        "/healthz",
    )
    assert steps[-1].body == {"schedule": "0 * * * *", "command": "python report.py"}


def test_the_second_pass_fills_addon_rewrites_and_then_nothing_changes() -> None:
    url = "postgres://u_a:s3cr%2Ft@172.17.0.1:7432/shop_web_1"
    current = Current(
        exists=True,
        config={"DATABASE_URL": url, "GREETING": "hi", "SESSION_SECRET": "kept"},
        attachments=["DATABASE"],
        formation={
            "web": {
                "type": "web",
                "quantity": 2,
                "size": "standard-1x",
                "port": 8080,
                "check_path": "/healthz",
                "command": None,
            },
            "worker": {
                "type": "worker",
                "quantity": 1,
                "size": "basic",
                "port": None,
                "check_path": None,
                "command": "python worker.py",
            },
        },
        schedules=[("0 * * * *", "python report.py")],
        group="shop",
        aliases=["storefront"],
    )
    [step] = plan_app(_plan(), current, "shop")
    assert step.body == {"POSTGRES_HOST": "172.17.0.1", "POSTGRES_PASSWORD": "s3cr/t"}
    current.config.update(step.body)
    assert plan_app(_plan(), current, "shop") == []


def test_url_parts() -> None:
    assert url_parts("redis://app_a:p%40ss@10.0.0.1:7600")["password"] == "p@ss"


def test_the_release_phase_is_set_once_and_secrets_stay_out_of_the_text() -> None:
    plan = _plan()
    plan.config.append(ConfigVar("DB_PASSWORD", "s3cr3t-value", secret=True))
    plan.release_command = "python migrate.py --password s3cr3t-value"
    steps = plan_app(plan, Current(), "shop")
    phase = next(s for s in steps if "release phase" in s.what)
    assert phase.body == {
        "updates": [{"type": "release", "command": "python migrate.py --password s3cr3t-value"}]
    }
    assert "s3cr3t-value" not in " ".join(s.what for s in steps)
    assert "${DB_PASSWORD}" in phase.what
    again = Current(exists=True, release_command=plan.release_command)
    assert not [s for s in plan_app(plan, again, None) if "release phase" in s.what]


def test_each_distinct_image_is_released_once_and_only_when_its_reference_changed() -> None:
    plan = _plan()
    plan.processes.append(Process("mailer", "shop/web:1", "python mail.py", quantity=1))
    steps = plan_app(plan, Current(), "shop", images=True)
    releases = [s for s in steps if s.path.endswith("/image-releases")]
    assert [s.what for s in releases] == [
        "release web, mailer from docker.io/shop/web:1",
        "release worker from docker.io/shop/worker:1",
    ]
    assert releases[0].body == {
        "updates": [
            {"type": "web", "image": "docker.io/shop/web:1"},
            {"type": "mailer", "image": "docker.io/shop/web:1"},
        ]
    }
    done = {"web": "docker.io/shop/web:1", "mailer": "docker.io/shop/web:1"}
    current = Current(image_sources={**done, "worker": "docker.io/shop/worker:1"})
    again = plan_app(plan, current, "shop", images=True)
    assert not [s for s in again if s.path.endswith("/image-releases")]
    plan.processes[1].image = "shop/worker:2"
    [changed] = [
        s for s in plan_app(plan, current, "shop", images=True) if "image-releases" in s.path
    ]
    assert changed.what == "release worker from docker.io/shop/worker:2"
    assert not [s for s in plan_app(plan, Current(), "shop") if "image-releases" in s.path]


def test_a_manifest_command_replaces_the_entrypoint() -> None:
    plan = _plan()
    plan.processes[1].replaces_entrypoint = True
    declare = next(s for s in plan_app(plan, Current(), "shop") if s.path.endswith("/formation"))
    worker = declare.body["updates"][1]
    assert worker == {"type": "worker", "command": "python worker.py", "replaces_entrypoint": True}


def test_apps_reading_one_secret_key_get_one_generated_value() -> None:
    """Issue 18 item 3: the broker's RABBITMQ_DEFAULT_PASS and its client's
    ORDER_QUEUE_PASSWORD read one Secret key with no value here: one value for both."""
    origin = "Secret/rabbitmq/password"
    broker = AppPlan(
        "rabbitmq", config=[ConfigVar("RABBITMQ_DEFAULT_PASS", None, True, "", origin)]
    )
    client = AppPlan("orders", config=[ConfigVar("ORDER_QUEUE_PASSWORD", None, True, "", origin)])
    shared = shared_values([broker, client], {"rabbitmq": Current(), "orders": Current()})
    steps = plan_app(broker, Current(), "shop", shared=shared)
    steps += plan_app(client, Current(), "shop", shared=shared)
    values = [s.body for s in steps if s.path.endswith("/config-vars")]
    assert values[0]["RABBITMQ_DEFAULT_PASS"] == values[1]["ORDER_QUEUE_PASSWORD"]
    kept = Current(exists=True, config={"RABBITMQ_DEFAULT_PASS": "already-set"})
    shared = shared_values([broker, client], {"rabbitmq": kept, "orders": Current()})
    [later] = [s for s in plan_app(client, Current(), "shop", shared=shared) if "config" in s.path]
    assert later.body == {"ORDER_QUEUE_PASSWORD": "already-set"}


def test_an_import_changes_only_apps_it_made_unless_told() -> None:
    """Issue 18 item 7: a Deployment named like an existing app does not adopt it silently."""
    origin = "k8s:0123456789ab"
    [create, *_] = plan_app(_plan(), Current(), "shop", origin=origin)
    assert create.body == {"name": "shop-web", "moorage": {"origin": origin}}
    mine = Current(exists=True, origin=origin)
    theirs = Current(exists=True)
    assert foreign({"shop-web": mine, "other": Current()}, origin) == []
    assert foreign({"shop-web": theirs}, origin) == [
        "shop-web (it was made with apps:create, not by an import)"
    ]
    adopt = plan_app(_plan(), theirs, "shop", origin=origin)[0]
    assert adopt.what.startswith("adopt app shop-web")
    assert adopt.body == {"moorage": {"origin": origin}}
    assert not any(
        s.what.startswith("adopt") for s in plan_app(_plan(), mine, "shop", origin=origin)
    )
