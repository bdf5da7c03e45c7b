"""convert(): Kubernetes objects -> Moorage app plans and findings.

Corpus apps (real public manifests) and examples/actors/spec are checked twice: by explicit
assertions on what matters, and structurally against golden files reviewed by hand
(``tests/unit/golden/convert/<case>.json``; regenerate with MOORAGE_UPDATE_GOLDEN=1 and
review the diff). Objects are built here from the YAML with ``yaml.safe_load_all``; the
real loader is tested on its own.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from moorage.convert.model import AppPlan, Conversion, Finding, K8sObject, Source
from moorage.convert.plan import convert
from moorage.errors import InvalidName
from moorage.spec.dyno import SIZES
from moorage.spec.names import validate_app_name, validate_config_key, validate_process_type

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "k8s"  # a copy of ../shared/corpus/k8s
GOLDEN = Path(__file__).parent / "golden" / "convert"
CASES = {
    "guestbook": CORPUS / "kubernetes-examples-guestbook",
    "voting": CORPUS / "example-voting-app",
    "azure": CORPUS / "azure-voting-app-redis",
    "microservices": CORPUS / "microservices-demo" / "kubernetes-manifests.yaml",
    "actors": ROOT / "examples" / "actors" / "spec",
}


# -- helpers ------------------------------------------------------------------------------


def load(path: Path) -> list[K8sObject]:
    """Every document of the YAML files under ``path`` (sorted), with its file and line."""
    files = sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    out = []
    for f in files:
        text = f.read_text()
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        for doc, node in zip(yaml.safe_load_all(text), nodes, strict=True):
            if isinstance(doc, dict):
                out.append(obj(doc, f"{f.parent.name}/{f.name}", node.start_mark.line + 1))
    return out


def obj(doc: dict[str, Any], file: str = "test.yaml", line: int = 1) -> K8sObject:
    meta = doc.get("metadata") or {}
    name = str(meta.get("name", ""))
    return K8sObject(
        doc["kind"],
        doc.get("apiVersion", "v1"),
        name,
        meta.get("namespace"),
        doc,
        Source(file, line, doc["kind"], name),
    )


def case(name: str, **kwargs: Any) -> Conversion:
    path = CASES[name]
    if not path.exists():
        pytest.skip(f"{path} is not here")
    return convert(load(path), **kwargs)


def app_named(c: Conversion, name: str) -> AppPlan:
    return next(a for a in c.apps if a.name == name)


def about(c: Conversion, kind: str, name: str, severity: str | None = None) -> list[Finding]:
    return [
        f
        for f in c.findings
        if (f.source.kind, f.source.name) == (kind, name)
        and (severity is None or f.severity == severity)
    ]


def config(app: AppPlan) -> dict[str, str | None]:
    return {v.key: v.value for v in app.config}


def deployment(name: str, image: str = "example/app:1", **container: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image, **container}]},
            },
        },
    }


def service(
    name: str, selector: str | None = None, port: int = 80, target: int = 8080
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": selector or name},
            "ports": [{"port": port, "targetPort": target}],
        },
    }


def env(**values: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def summary(c: Conversion) -> dict[str, Any]:
    """What the golden files hold: the plans, and how many findings of each severity each
    object has (their wording may change without a golden update)."""

    def src(s: Source) -> str:
        return f"{s.kind}/{s.name}"

    apps = [
        {
            "name": a.name,
            "processes": [
                {
                    "type": p.type,
                    "image": p.image,
                    "command": p.command,
                    "quantity": p.quantity,
                    "size": p.size,
                    "port": p.port,
                    "check_path": p.check_path,
                    **({"ports": [list(x) for x in p.ports]} if p.ports else {}),
                    "sources": [src(s) for s in p.sources],
                }
                for p in a.processes
            ],
            "config": {v.key: [v.value, v.secret] for v in a.config},
            "addons": [
                {
                    "service": ad.service,
                    "attachment": ad.attachment,
                    "replaces": [src(s) for s in ad.replaces],
                    "rewrites": ad.rewrites,
                }
                for ad in a.addons
            ],
            "domains": a.domains,
            "aliases": a.aliases,
            "release_command": a.release_command,
            "schedules": [[j.name, j.cron, j.command] for j in a.schedules],
            "autoscale": list(a.autoscale) if a.autoscale else None,
            **(
                {"volumes": [[v.name, v.path, v.process_type, v.size] for v in a.volumes]}
                if a.volumes
                else {}
            ),
            "sources": sorted(src(s) for s in a.sources),
        }
        for a in c.apps
    ]
    findings: dict[str, int] = {}
    for f in c.findings:
        key = f"{f.severity} {src(f.source)}"
        findings[key] = findings.get(key, 0) + 1
    return {"group": c.group, "apps": apps, "findings": findings}


# -- corpus and actors --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_object_is_converted_or_reported(name: str) -> None:
    c = case(name)
    assert c.uncovered() == []
    # The safety net for objects no rule matched must not be what covers the corpus.
    assert not [f for f in c.findings if "no rule matched" in f.why]
    for a in c.apps:
        validate_app_name(a.name)
        for p in a.processes:
            validate_process_type(p.type)
            assert p.size in SIZES
        for v in a.config:
            validate_config_key(v.key)
        for f in c.findings:
            assert f.why and f.todo and f.source.file and f.source.line >= 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_golden_file(name: str) -> None:
    got = summary(case(name))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("MOORAGE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())


def test_guestbook_keeps_the_redis_its_image_has_built_in() -> None:
    """Issue 18 item 4: no env var names the Redis Services (the image has them built
    in), so they stay private processes instead of an add-on the code cannot reach."""
    c = case("guestbook")
    assert sorted(a.name for a in c.apps) == ["frontend", "redis-master", "redis-replica"]
    front = app_named(c, "frontend")
    (web,) = front.processes
    assert (web.type, web.quantity, web.port, web.size) == ("web", 3, 80, "eco")
    assert web.image == "gcr.io/google-samples/gb-frontend:v5"
    assert front.addons == [] and not front.private  # its LoadBalancer made it public
    for name in ("redis-master", "redis-replica"):
        redis = app_named(c, name)
        assert redis.private and redis.addons == [] and redis.aliases == [name]
    assert front.aliases == ["frontend"]
    # The folder holds the objects twice (single files and an all-in-one file).
    assert about(c, "Deployment", "redis-replica", "warning")  # two different definitions
    kept = about(c, "Deployment", "redis-master", "warning")
    assert any("built in" in f.why and "private process" in f.why for f in kept)


def test_voting_app_keeps_its_databases_beside_three_apps() -> None:
    c = case("voting")
    assert c.group == "example-voting-app"
    assert sorted(a.name for a in c.apps) == ["db-app", "redis", "result", "vote", "worker"]
    assert app_named(c, "vote").processes[0].type == "web"
    assert app_named(c, "vote").processes[0].port == 80
    assert [p.type for p in app_named(c, "worker").processes] == ["worker"]
    assert app_named(c, "worker").processes[0].port is None
    assert all(a.addons == [] for a in c.apps)  # the images have "db" and "redis" built in
    db = app_named(c, "db-app")
    assert db.private and db.aliases == ["db"] and app_named(c, "redis").private
    assert not app_named(c, "vote").private and not app_named(c, "result").private
    assert config(db)["POSTGRES_PASSWORD"] == "postgres"  # as the images expect
    assert app_named(c, "vote").aliases == ["vote"]
    assert about(c, "Service", "vote", "info")  # NodePort: public through the router
    assert about(c, "Deployment", "worker", "info")  # worker-only app, and why


def test_azure_vote_keeps_its_redis_reached_by_host() -> None:
    c = case("azure")
    assert sorted(a.name for a in c.apps) == ["azure-vote-back", "azure-vote-front"]
    front, back = app_named(c, "azure-vote-front"), app_named(c, "azure-vote-back")
    assert front.addons == [] and config(front)["REDIS"] == "azure-vote-back"
    assert back.private and not front.private  # the front's LoadBalancer made it public
    assert about(c, "Service", "azure-vote-front", "info")  # LoadBalancer
    assert any("private process" in f.why for f in about(c, "Deployment", "azure-vote-back"))
    assert any("nodeSelector" in f.why for f in about(c, "Deployment", "azure-vote-front"))


def test_microservices_demo_is_a_group_of_twelve_apps() -> None:
    started = time.perf_counter()
    c = case("microservices")
    elapsed = time.perf_counter() - started
    print(f"microservices-demo converted in {elapsed * 1000:.1f} ms")
    assert c.group == "microservices-demo"
    names = {a.name for a in c.apps}
    assert len(names) == 12 and {"frontend", "cartservice", "redis-cart"} <= names
    frontend = app_named(c, "frontend")
    assert frontend.aliases == ["frontend", "frontend-external"]
    assert frontend.processes[0].port == 8080
    assert frontend.processes[0].check_path == "/_healthz"
    assert "PORT" not in config(frontend)
    cart = app_named(c, "cartservice")  # REDIS_ADDR=redis-cart:6379: no room for a password
    assert cart.addons == [] and config(cart)["REDIS_ADDR"] == "redis-cart:6379"
    assert app_named(c, "redis-cart").private
    assert [p.type for p in app_named(c, "loadgenerator").processes] == ["worker"]
    # Callers use the Service port; the dyno listens on the container port.
    assert config(app_named(c, "loadgenerator"))["FRONTEND_ADDR"] == "frontend:8080"
    assert config(app_named(c, "checkoutservice"))["EMAIL_SERVICE_ADDR"] == "emailservice:8080"
    for sa in ("frontend", "cartservice", "loadgenerator"):
        assert about(c, "ServiceAccount", sa)
    assert about(c, "Service", "frontend-external", "info")  # LoadBalancer
    assert any("grpc readiness" in f.why for f in about(c, "Deployment", "adservice"))
    assert any("waits" in f.why for f in about(c, "Deployment", "loadgenerator"))
    assert all(a.addons == [] for a in c.apps)


def test_actors_spec_is_one_app_on_postgres_with_database_url_rewritten() -> None:
    c = case("actors", app="actors")
    (a,) = c.apps
    assert a.name == "actors"
    assert c.group is None
    (web,) = a.processes
    assert (web.type, web.image, web.quantity, web.port) == ("web", "myorg/myapp:0.0.1", 2, 5000)
    assert (web.size, web.check_path) == ("basic", "/")
    assert config(a) == {
        "FLASK_ENV": "production",
        "FLASK_APP": "myapp.py",
        "GREETING": "Hello from Kubernetes",
    }
    (pg,) = a.addons
    assert (pg.service, pg.attachment) == ("postgresql", "DATABASE")
    assert pg.rewrites == {
        "DATABASE_URL": "${DATABASE_URL}",
        "POSTGRES_HOST": "{host}",
        "POSTGRES_PORT": "{port}",
        "POSTGRES_DB": "{database}",
        "POSTGRES_USER": "{user}",
        "POSTGRES_PASSWORD": "{password}",
    }
    assert a.domains == ["myapp.example.com"]
    assert a.aliases == ["myapp"]
    sources = {(s.kind, s.name) for s in a.sources}
    assert {("ConfigMap", "myapp-config"), ("Secret", "myapp-db"), ("Ingress", "myapp")} <= sources
    assert about(c, "Namespace", "myapp")
    report = " ".join(f.why for f in c.findings)
    assert "changeme" not in report  # the secret is never shown
    assert "postgresql://myapp:***@myapp-postgresql:5432/actors -> ${DATABASE_URL}" in report


def test_actors_without_app_name_keeps_the_workload_name() -> None:
    assert [a.name for a in case("actors").apps] == ["myapp"]


# -- edge cases ---------------------------------------------------------------------------


def test_unknown_kinds_and_custom_resources_are_reported() -> None:
    objs = [
        obj({"apiVersion": "v1", "kind": "Gizmo", "metadata": {"name": "g"}}),
        obj({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
        obj({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"}}),
        obj({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"}}),
    ]
    c = convert(objs)
    assert c.apps == [] and c.uncovered() == []
    assert "unknown kind" in about(c, "Gizmo", "g", "warning")[0].why
    assert "custom resource of example.com" in about(c, "Widget", "w", "warning")[0].why
    assert about(c, "Certificate", "c", "info")
    assert about(c, "DaemonSet", "d", "warning")


def test_63_character_names_make_valid_distinct_app_names() -> None:
    long_a = "a" * 40 + "-service-with-a-long-n1"
    long_b = "a" * 40 + "-service-with-a-long-n2"
    assert len(long_a) == len(long_b) == 63 and long_a != long_b
    objs = [obj(deployment(n)) for n in (long_a, long_b)] + [
        obj(service(n)) for n in (long_a, long_b)
    ]
    worker = "w" + "-" * 2 + "x" * 60
    objs.append(obj(deployment(worker, image="other/img")))
    c = convert(objs)
    names = [a.name for a in c.apps]
    assert len(set(names)) == 3
    for a in c.apps:
        validate_app_name(a.name)
        for p in a.processes:
            validate_process_type(p.type)
    assert c.uncovered() == []
    assert sorted(a.aliases[0] for a in c.apps if a.aliases) == sorted([long_a, long_b])


def test_missing_configmap_and_secret_are_warnings_and_required_vars() -> None:
    d = deployment(
        "api",
        envFrom=[{"configMapRef": {"name": "absent-config"}}],
        env=[
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "t"}}},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}},
            },
        ],
    )
    c = convert([obj(d), obj(service("api"))])
    warnings = [f.why for f in about(c, "Deployment", "api", "warning")]
    assert any("ConfigMap absent-config" in w for w in warnings)
    assert any("Secret absent (key t)" in w for w in warnings)
    (a,) = c.apps
    token = next(v for v in a.config if v.key == "TOKEN")
    assert token.value is None and token.secret and "supply" in token.description
    assert "OPT" not in config(a)


def test_configmaps_and_secrets_become_config_vars() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "data": {
            "API_KEY": base64.b64encode(b"k-9f8e7d6c5b4a").decode(),
            "DB_PASSWORD": base64.b64encode(b"changeme").decode(),
        },
        "stringData": {"SIGNING_SECRET": "s3cr3t-value-123"},
    }
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg"},
        "data": {"MODE": "fast", "bad-key": "x"},
    }
    d = deployment(
        "api",
        envFrom=[{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}}],
        env=[{"name": "LEVEL", "value": "3"}, {"name": "LABEL", "value": "$(MODE)-$(LEVEL)-$$(X)"}],
    )
    c = convert([obj(cm), obj(secret), obj(d)])
    (a,) = c.apps
    by_key = {v.key: v for v in a.config}
    assert by_key["MODE"].value == "fast" and not by_key["MODE"].secret
    assert by_key["API_KEY"].value == "k-9f8e7d6c5b4a" and by_key["API_KEY"].secret
    assert by_key["SIGNING_SECRET"].value == "s3cr3t-value-123" and by_key["SIGNING_SECRET"].secret
    assert by_key["DB_PASSWORD"].value is None  # a placeholder is not carried over
    assert "placeholder" in by_key["DB_PASSWORD"].description
    assert by_key["LABEL"].value == "fast-3-$(X)"
    assert "bad-key" not in by_key
    assert any("bad-key" in f.why for f in c.findings)
    assert c.uncovered() == []


def test_command_and_args_become_a_shell_line() -> None:
    d = deployment(
        "api",
        command=["/bin/sh", "-c"],
        args=["exec gunicorn -b 0.0.0.0:$(PORT_X) app:$(APP) $(undefined) 'q'"],
        env=env(PORT_X="8000", APP="main"),
    )
    c = convert([obj(d), obj(service("api"))])
    web = c.apps[0].processes[0]
    assert web.command == (
        "/bin/sh -c \"exec gunicorn -b 0.0.0.0:${PORT_X} app:${APP} \\$(undefined) 'q'\""
    )


def test_memory_limits_pick_the_smallest_size_that_fits() -> None:
    def size(limits: dict[str, str]) -> str:
        d = deployment("api", resources={"limits": limits})
        return convert([obj(d), obj(service("api"))]).apps[0].processes[0].size

    assert size({"memory": "200Mi"}) == "eco"
    assert size({"memory": "512Mi"}) == "basic"
    assert size({"memory": "512Mi", "cpu": "1"}) == "standard-1x"
    assert size({"memory": "1Gi"}) == "standard-2x"
    assert size({"memory": "2Gi"}) == "performance-m"
    assert size({"memory": "8Gi"}) == "performance-l"
    assert size({"memory": "64Gi"}) == "performance-l"


@pytest.mark.parametrize(
    ("key", "value", "template"),
    [
        ("POSTGRES_HOST", "db", "{host}"),
        ("DB_HOST", "db.default.svc.cluster.local", "{host}"),
        ("DATABASE_URL", "postgresql://u:p@db:5432/x", "${DATABASE_URL}"),
        (
            "SQLALCHEMY_URL",
            "postgresql+psycopg://u:p@db/x",
            "postgresql+psycopg://{user}:{password}@{host}:{port}/{database}",
        ),
        ("JDBC_URL", "jdbc:postgresql://db:5432/x", "jdbc:postgresql://{host}:{port}/{database}"),
        ("CACHE_URL", "redis://cache:6379", "${REDIS_URL}"),
        ("CACHE_URL", "redis://cache:6379/2", "redis://{user}:{password}@{host}:{port}/2"),
    ],
)
def test_env_that_reached_a_database_is_rewritten(key: str, value: str, template: str) -> None:
    db = deployment("db", image="postgres:16", env=env(POSTGRES_PASSWORD="pw-5"))
    cache = deployment("cache", image="docker.io/bitnami/redis:7.2")
    app = deployment("api", env=env(**{key: value}))
    objs = [obj(x) for x in (db, cache, app, service("db", port=5432, target=5432))]
    objs.append(obj(service("cache", port=6379, target=6379)))
    objs.append(obj(service("api")))
    c = convert(objs)
    a = app_named(c, "api")  # the database it does not name stays a process of its own
    rewrites = {k: v for ad in a.addons for k, v in ad.rewrites.items()}
    assert rewrites == {key: template}
    assert key not in config(a)
    assert c.uncovered() == []


@pytest.mark.parametrize(("key", "value"), [("REDIS", "cache"), ("REDIS_ADDR", "cache:6379")])
def test_a_redis_reached_by_host_alone_stays_a_process(key: str, value: str) -> None:
    """Issue 18 item 4: the add-on needs a password a host:port variable cannot carry, so
    the Redis stays what it was (private, under its Service name) and the client reaches it."""
    cache = deployment("cache", image="docker.io/bitnami/redis:7.2")
    app = deployment("api", env=env(**{key: value}))
    objs = [obj(x) for x in (cache, app, service("cache", port=6379, target=6379), service("api"))]
    c = convert(objs)
    api, kept = app_named(c, "api"), app_named(c, "cache")
    assert api.addons == [] and config(api)[key] == value
    assert kept.private and kept.aliases == ["cache"]
    assert any("private process" in f.why for f in about(c, "Deployment", "cache", "warning"))


def test_credentials_next_to_a_database_host_are_rewritten() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pg"},
        "stringData": {"password": "Zq8-long-random"},
    }
    ref = {"valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}}
    db = deployment("db", image="postgres:16", env=[{"name": "POSTGRES_PASSWORD", **ref}])
    app = deployment(
        "api",
        env=[
            *env(DB_HOST="db", DB_PORT="5432", DB_USER="app", DB_NAME="shop", OTHER="x"),
            {"name": "SPRING_DATASOURCE_PASSWORD", **ref},
        ],
    )
    c = convert(
        [
            obj(secret),
            obj(db),
            obj(app),
            obj(service("db", port=5432, target=5432)),
            obj(service("api")),
        ]
    )
    (a,) = c.apps
    (pg,) = a.addons
    assert pg.rewrites == {
        "DB_HOST": "{host}",
        "DB_PORT": "{port}",
        "DB_USER": "{user}",
        "DB_NAME": "{database}",
        "SPRING_DATASOURCE_PASSWORD": "{password}",
    }
    assert config(a) == {"OTHER": "x"}
    # The Secret fed only the database and the rewritten var: the add-on replaces it.
    assert ("Secret", "pg") in {(s.kind, s.name) for s in pg.replaces} | {
        (s.kind, s.name) for s in a.sources
    }
    assert c.uncovered() == []


def test_chart_dependency_becomes_an_addon_and_explains_its_secret() -> None:
    dep = Finding("info", Source("chart/Chart.yaml", 8, "ChartDependency", "postgresql"), "x", "y")
    ref = {"valueFrom": {"secretKeyRef": {"name": "rel-postgresql", "key": "password"}}}
    app = deployment(
        "rel-myapp",
        env=[
            {"name": "POSTGRES_PASSWORD", **ref},
            {
                "name": "DATABASE_URL",
                "value": "postgresql://u:$(POSTGRES_PASSWORD)@rel-postgresql:5432/d",
            },
        ],
    )
    c = convert([obj(app), obj(service("rel-myapp"))], [dep], app="actors")
    (a,) = c.apps
    (pg,) = a.addons
    assert pg.replaces == [dep.source]
    assert pg.rewrites == {"DATABASE_URL": "${DATABASE_URL}", "POSTGRES_PASSWORD": "{password}"}
    assert not [f for f in c.findings if f.severity == "warning" and "rel-postgresql" in f.why]


def test_workers_join_the_app_running_their_image_else_get_their_own() -> None:
    objs = [
        obj(deployment("shop", image="acme/shop:1")),
        obj(service("shop")),
        obj(deployment("billing", image="acme/billing:1")),
        obj(service("billing")),
        obj(deployment("mailer", image="acme/shop:1", command=["python", "mailer.py"])),
        obj(deployment("cleanup", image="acme/cleanup:1")),
    ]
    c = convert(objs, group="acme")
    assert c.group == "acme"
    shop = app_named(c, "shop")
    assert [p.type for p in shop.processes] == ["web", "mailer"]
    assert shop.processes[1].command == "python mailer.py"
    assert [p.type for p in app_named(c, "cleanup").processes] == ["worker"]
    assert any("worker-only" in f.why for f in about(c, "Deployment", "cleanup"))


def test_jobs_cronjobs_hpa_and_init_containers() -> None:
    image = "acme/shop:1"
    d = deployment("shop", image=image, replicas=2)
    d["spec"]["replicas"] = 2
    d["spec"]["template"]["spec"]["initContainers"] = [
        {
            "name": "wait-for-db",
            "image": "busybox",
            "command": ["sh", "-c", "until nc -z db 5432; do sleep 1; done"],
        },
        {"name": "migrate", "image": image, "command": ["python", "manage.py", "migrate"]},
    ]
    hook = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "seed", "annotations": {"helm.sh/hook": "pre-upgrade,pre-install"}},
        "spec": {
            "template": {"spec": {"containers": [{"name": "s", "image": image, "args": ["seed"]}]}}
        },
    }
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly-report"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "r", "image": image, "command": ["report"]}]
                        }
                    }
                }
            },
        },
    }
    once = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "backfill"},
        "spec": {"template": {"spec": {"containers": [{"name": "b", "image": image}]}}},
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "shop"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "shop"},
            "minReplicas": 3,
            "maxReplicas": 9,
        },
    }
    c = convert([obj(x) for x in (d, service("shop"), hook, cron, once, hpa)])
    (a,) = c.apps
    assert a.release_command == "python manage.py migrate && seed"
    assert [(j.name, j.cron, j.command) for j in a.schedules] == [
        ("nightly-report", "0 3 * * *", "report")
    ]
    assert a.autoscale == (3, 9)
    assert a.processes[0].quantity == 3
    assert about(c, "Job", "backfill", "warning")  # not run automatically
    assert any("waits" in f.why for f in about(c, "Deployment", "shop", "info"))
    assert about(c, "HorizontalPodAutoscaler", "shop", "info")
    assert c.uncovered() == []


def test_pod_settings_with_no_equivalent_are_reported() -> None:
    d = deployment(
        "api",
        volumeMounts=[
            {"name": "data", "mountPath": "/data"},
            {"name": "conf", "mountPath": "/etc/app"},
        ],
    )
    spec = d["spec"]["template"]["spec"]
    spec["containers"].append({"name": "log-shipper", "image": "fluent/fluent-bit"})
    spec["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "api-data"}},
        {"name": "conf", "configMap": {"name": "api-conf"}},
    ]
    spec["tolerations"] = [{"key": "x"}]
    spec["containers"][0]["securityContext"] = {"privileged": True}
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "api-conf"},
        "data": {"app.ini": "x"},
    }
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "api-data"}}
    c = convert([obj(d), obj(service("api")), obj(cm), obj(pvc)])
    whys = " | ".join(f.why for f in about(c, "Deployment", "api"))
    assert "Sidecar container log-shipper" in whys
    assert "api-data at /data becomes the persistent volume api-data" in whys
    assert "tolerations" in whys
    assert about(c, "Deployment", "api", "error")  # privileged
    assert "mounted as files at /etc/app" in about(c, "ConfigMap", "api-conf", "warning")[0].why
    assert about(c, "PersistentVolumeClaim", "api-data", "warning")
    assert c.uncovered() == []


def test_fieldref_and_resourcefieldref() -> None:
    d = deployment(
        "api",
        resources={"limits": {"memory": "256Mi"}},
        env=[
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "MEM_MB",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
        ],
    )
    d["metadata"]["namespace"] = "shop"
    c = convert([obj(d), obj(service("api"))])
    assert config(c.apps[0]) == {"NS": "shop", "MEM_MB": "256"}
    assert any("$DYNO" in f.todo for f in about(c, "Deployment", "api", "warning"))


def test_app_name_must_be_valid_and_forces_one_app() -> None:
    with pytest.raises(InvalidName):
        convert([], app="Bad_Name")
    objs = [
        obj(deployment("a-web", image="acme/x:1")),
        obj(service("a-web")),
        obj(deployment("b-web", image="acme/x:1")),
        obj(service("b-web")),
        obj(deployment("c-web", image="acme/other:1")),
        obj(service("c-web")),
    ]
    c = convert(objs, app="acme")
    (a,) = c.apps
    assert a.name == "acme"
    assert [p.type for p in a.processes] == ["web", "c-web"]
    assert [s.name for s in a.processes[0].sources] == ["a-web", "b-web"]
    assert a.aliases == ["a-web", "b-web"]
    assert about(c, "Service", "c-web", "warning")
    assert c.uncovered() == []


def test_ingress_hosts_become_domains_of_the_app_at_their_root() -> None:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "shop",
            "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/$2"},
        },
        "spec": {
            "rules": [
                {
                    "host": "shop.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/api",
                                "backend": {"service": {"name": "api", "port": {"number": 80}}},
                            },
                            {
                                "path": "/",
                                "backend": {"service": {"name": "ui", "port": {"number": 80}}},
                            },
                        ]
                    },
                },
                {
                    "host": "api.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "backend": {"service": {"name": "api", "port": {"number": 80}}},
                            }
                        ]
                    },
                },
            ]
        },
    }
    objs = [
        obj(deployment("ui")),
        obj(service("ui")),
        obj(deployment("api", image="x/api")),
        obj(service("api")),
    ]
    c = convert([*objs, obj(ingress)])
    assert app_named(c, "ui-app").domains == ["shop.example.com"]  # names are 3+ chars
    assert app_named(c, "api").domains == ["api.example.com"]
    warnings = " ".join(f.why for f in about(c, "Ingress", "shop", "warning"))
    assert "several apps" in warnings and "rewrite-target" in warnings
    assert c.uncovered() == []


def test_objects_created_by_others_in_the_input_are_converted_through_them() -> None:
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "api-7d9", "ownerReferences": [{"kind": "Deployment", "name": "api"}]},
        "spec": deployment("api")["spec"],
    }
    c = convert([obj(deployment("api")), obj(service("api")), obj(rs)])
    assert [a.name for a in c.apps] == ["api"]
    assert "Created by Deployment api" in about(c, "ReplicaSet", "api-7d9", "info")[0].why


def test_empty_input_converts_to_nothing() -> None:
    c = convert([])
    assert (c.apps, c.findings, c.uncovered(), c.group) == ([], [], [], None)


# -- robustness ---------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_field = st.sampled_from(
    ["spec", "template", "containers", "env", "ports", "selector", "data", "volumes", "rules"]
)


@given(
    kinds=st.lists(
        st.sampled_from(
            [
                "Deployment",
                "Service",
                "Ingress",
                "ConfigMap",
                "Secret",
                "CronJob",
                "Job",
                "HorizontalPodAutoscaler",
                "Pod",
                "StatefulSet",
                "Widget",
            ]
        ),
        min_size=1,
        max_size=5,
    ),
    junk=st.lists(st.tuples(_field, _json), max_size=4),
)
@settings(max_examples=150, deadline=None)
def test_malformed_objects_never_crash_and_are_covered(
    kinds: list[str], junk: list[tuple[str, Any]]
) -> None:
    objs = []
    for i, kind in enumerate(kinds):
        base = (
            deployment(f"w{i}")
            if kind in ("Deployment", "StatefulSet")
            else {"apiVersion": "v1", "kind": kind, "metadata": {"name": f"o{i}"}, "spec": {}}
        )
        base["kind"] = kind
        spec = base.setdefault("spec", {})
        for key, value in junk:
            target = spec if isinstance(spec, dict) else base
            target[key] = value
            if key == "containers":
                base["spec"] = {"template": {"spec": {"containers": value}}}
        objs.append(obj(base, line=i + 1))
    c = convert(objs)
    assert c.uncovered() == []
    for a in c.apps:
        validate_app_name(a.name)
        for p in a.processes:
            validate_process_type(p.type)


def test_several_apps_always_get_one_group_from_their_workloads_or_folder() -> None:
    """Issue 18 item 2: an all-in-one file gets a group; an unrelated object's namespace
    (an ingress controller's ConfigMap) does not name it."""
    stray = obj(
        {
            "kind": "ConfigMap",
            "metadata": {"name": "controller", "namespace": "ingress-nginx"},
            "data": {"a": "b"},
        },
        "all-in-one.yaml",
    )
    apps = [
        obj(deployment("shop"), "all-in-one.yaml"),
        obj(service("shop"), "all-in-one.yaml"),
        obj(deployment("billing", image="acme/billing:1"), "all-in-one.yaml"),
        obj(service("billing"), "all-in-one.yaml"),
    ]
    assert convert([stray, *apps], folder="webshop").group == "webshop"
    assert convert([stray, *apps]).group == "apps"
    shop = deployment("shop")
    shop["metadata"]["namespace"] = "store"
    apps[0] = obj(shop, "all-in-one.yaml")
    assert convert([stray, *apps], folder="webshop").group == "store"


def test_only_what_an_ingress_or_load_balancer_exposed_is_public() -> None:
    """Issue 18 item 1: microservices-demo's internal gRPC services were made public."""
    c = case("microservices")
    public = sorted(a.name for a in c.apps if not a.private)
    assert public == ["frontend"], public
    assert any("is private" in f.why for f in about(c, "Service", "cartservice"))
