"""convert.output: the files of k8s:convert, the report, stderr text and --json."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from moorage.convert.model import (
    AddonNeed,
    AppPlan,
    ConfigVar,
    Conversion,
    Finding,
    K8sObject,
    Process,
    ScheduledJob,
    Source,
)
from moorage.convert.output import render_findings, to_json, write
from moorage.errors import InvalidName, InvalidParams
from moorage.spec.manifests import parse_app_json, parse_heroku_yml, parse_procfile

DB_PASSWORD = "hunter2-db-pass"
SECRET_KEY = "flask-signing-key-9f8e"
ORPHAN = "orphan-secret-value"  # in a Secret no config var refers to
SECRETS = (DB_PASSWORD, SECRET_KEY, ORPHAN)


def src(kind: str, name: str, file: str = "spec/all.yaml", line: int = 1) -> Source:
    return Source(file, line, kind, name)


def obj(source: Source, body: dict[str, object]) -> K8sObject:
    return K8sObject(source.kind, "v1", source.name, "shop", body, source)


def conversion() -> Conversion:
    deploy, svc = src("Deployment", "web", line=1), src("Service", "web", line=40)
    worker, job = src("Deployment", "worker", line=60), src("Job", "migrate", line=90)
    cron, db = src("CronJob", "nightly", line=110), src("StatefulSet", "db", "db.yaml", 1)
    secret = src("Secret", "creds", "secret.yaml", 3)
    api = src("Deployment", "api", "api.yaml", 1)
    web = AppPlan(
        name="shop-web",
        processes=[
            Process(
                "web",
                "org/shop:1.0",
                "gunicorn app:app --bind 0.0.0.0:${PORT}",
                2,
                "standard-1x",
                5000,
                "/healthz",
                [deploy, svc],
            ),
            Process("worker", "org/shop:1.0", None, 1, "basic", None, None, [worker]),
            Process("mailer", "org/mailer:2", "sh -c 'echo a\necho b'", 1, sources=[worker]),
        ],
        config=[
            ConfigVar("GREETING", "Hello | `world`", description="from ConfigMap/settings"),
            ConfigVar("DB_PASSWORD", DB_PASSWORD, secret=True, description="Secret/creds key pw"),
            ConfigVar("SECRET_KEY", SECRET_KEY, secret=True, description="Secret/creds key sk"),
            ConfigVar("API_TOKEN", None, secret=True, description="Secret/missing: not found"),
            ConfigVar("LEGACY_URL", f"pg://u:{DB_PASSWORD}@db/x", description="plain env"),
            ConfigVar("ORPHAN_COPY", ORPHAN, description="plain env with a Secret's value"),
        ],
        addons=[AddonNeed("postgresql", "DATABASE", [db], {"DB_HOST": "{host}"})],
        domains=["shop.example.com"],
        schedules=[ScheduledJob("nightly", "0 3 * * *", "python report.py", [cron])],
        release_command=f"python migrate.py --password {DB_PASSWORD}",
        aliases=["web", "shop-web-svc"],
        autoscale=(2, 5),
        sources=[job],
    )
    api_app = AppPlan("shop-api", [Process("web", "org/api:3", "./api", sources=[api])])
    findings = [
        Finding("info", src("Namespace", "shop", "ns.yaml", 1), "Namespaces map to apps.", "None."),
        Finding("error", src("PersistentVolumeClaim", "data", "pvc.yaml", 7),
                "No volumes on Moorage.", "Use an add-on or object storage."),
        Finding("warning", secret, f"Secret creds holds {ORPHAN}, which nothing uses.",
                "Set it with moor config:set if needed."),
    ]  # fmt: skip
    secret_body = {
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "data": {"orphan": base64.b64encode(ORPHAN.encode()).decode(), "bad": "%%%"},
        "stringData": {"pw": DB_PASSWORD},
    }
    objects = [obj(s, {"kind": s.kind}) for s in (deploy, svc, worker, job, cron, db, api)]
    objects += [obj(secret, secret_body), obj(src("Namespace", "shop", "ns.yaml"), {})]
    objects += [obj(src("PersistentVolumeClaim", "data", "pvc.yaml", 7), {})]
    return Conversion([web, api_app], "shop", findings, objects)


def everything_written(out: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(out.rglob("*")) if p.is_file())


def test_write_creates_every_file_and_no_secret_value(tmp_path: Path) -> None:
    conv = conversion()
    written = write(conv, tmp_path / "out")
    names = ["heroku.yml", "app.json", "Procfile", "moorage.json"]
    expected = [tmp_path / "out" / app / n for app in ("shop-web", "shop-api") for n in names]
    assert written == [*expected, tmp_path / "out" / "REPORT.md"]
    text = everything_written(tmp_path / "out")
    for secret in SECRETS:
        assert secret not in text
    assert secret_free(to_json(conv))
    assert all(secret not in render_findings(conv.findings) for secret in (DB_PASSWORD, SECRET_KEY))


def secret_free(data: object) -> bool:
    dumped = json.dumps(data)
    return not any(secret in dumped for secret in SECRETS)


def test_heroku_yml_and_procfile_parse_as_the_platform_reads_them(tmp_path: Path) -> None:
    write(conversion(), tmp_path)
    heroku = (tmp_path / "shop-web" / "heroku.yml").read_text()
    doc = yaml.safe_load(heroku)
    assert "build" not in doc  # every process runs a prebuilt image: no Dockerfile claimed
    assert doc["release"] == {
        "image": "web", "command": "python migrate.py --password ${DB_PASSWORD}"
    }  # fmt: skip
    assert "# web: runs the prebuilt image org/shop:1.0" in heroku
    assert "listens on port 5000" in heroku
    manifest = parse_heroku_yml(heroku)
    assert manifest.commands == {
        "web": "gunicorn app:app --bind 0.0.0.0:${PORT}",
        "mailer": "sh -c 'echo a\necho b'",
    }
    assert manifest.release_command == "python migrate.py --password ${DB_PASSWORD}"
    procfile = parse_procfile((tmp_path / "shop-web" / "Procfile").read_text())
    assert procfile.commands == {"web": "gunicorn app:app --bind 0.0.0.0:${PORT}"}
    assert procfile.release_command == "python migrate.py --password ${DB_PASSWORD}"
    api = yaml.safe_load((tmp_path / "shop-api" / "heroku.yml").read_text())
    assert api == {"run": {"web": "./api"}}


def test_app_json_env_formation_addons_checks(tmp_path: Path) -> None:
    write(conversion(), tmp_path)
    text = (tmp_path / "shop-web" / "app.json").read_text()
    doc = json.loads(text)
    assert doc["name"] == "shop-web"
    env = doc["env"]
    assert env["GREETING"] == {"description": "from ConfigMap/settings", "value": "Hello | `world`"}
    assert env["SECRET_KEY"] == {"description": "Secret/creds key sk", "generator": "secret"}
    for key in ("DB_PASSWORD", "API_TOKEN", "LEGACY_URL", "ORPHAN_COPY"):
        assert env[key]["required"] is True and "value" not in env[key]
        assert f"moor config:set {key}=" in env[key]["description"]
    assert doc["formation"] == {
        "web": {"quantity": 2, "size": "standard-1x"},
        "worker": {"quantity": 1, "size": "basic"},
        "mailer": {"quantity": 1, "size": "basic"},
    }
    assert doc["addons"] == [{"plan": "postgresql", "as": "DATABASE"}]
    assert doc["cron"] == [{"command": "python report.py", "schedule": "0 3 * * *"}]
    assert parse_app_json(text).check_paths == {"web": "/healthz"}
    api = json.loads((tmp_path / "shop-api" / "app.json").read_text())
    assert "healthchecks" not in api and "cron" not in api and api["env"] == {}


def test_moorage_json_is_the_plan_without_secret_values(tmp_path: Path) -> None:
    write(conversion(), tmp_path)
    plan = json.loads((tmp_path / "shop-web" / "moorage.json").read_text())
    assert plan["group"] == "shop" and plan["name"] == "shop-web"
    config = {c["key"]: c for c in plan["config"]}
    assert config["GREETING"]["value"] == "Hello | `world`"
    for key in ("DB_PASSWORD", "SECRET_KEY", "API_TOKEN", "LEGACY_URL", "ORPHAN_COPY"):
        assert config[key]["value"] is None and config[key]["secret"] is True
    assert plan["processes"][0]["port"] == 5000
    assert plan["processes"][0]["sources"][1] == {
        "file": "spec/all.yaml", "line": 40, "kind": "Service", "name": "web"
    }  # fmt: skip
    assert plan["addons"][0]["rewrites"] == {"DB_HOST": "{host}"}
    assert plan["autoscale"] == [2, 5] and plan["domains"] == ["shop.example.com"]
    assert plan["release_command"] == "python migrate.py --password ${DB_PASSWORD}"


def test_what_needs_nothing_collapses_into_counted_lines(tmp_path: Path) -> None:
    """Issue 18 item 9: a report a person can act on."""
    conv = conversion()
    source = conv.findings[0].source
    conv.findings += [
        Finding("info", source, f"Dyno size: {n} MiB -> basic.", "Nothing to do.") for n in (1, 2)
    ]
    write(conv, tmp_path)
    report = (tmp_path / "REPORT.md").read_text()
    assert "## Done for you (2: nothing to do)" in report
    assert f"- Dyno size (2): {source.kind}/{source.name}" in report
    assert report.index("## What you need to do") < report.index("## Done for you")


def test_report_groups_findings_and_lists_every_app(tmp_path: Path) -> None:
    conv = conversion()
    write(conv, tmp_path)
    report = (tmp_path / "REPORT.md").read_text()
    error, warning, note = (
        report.index(h) for h in ("- Error: **Persist", "- Warning: **Secret", "- Note: **Names")
    )
    assert (
        report.index("## What you need to do (3)")  # actions first, errors before warnings
        < error
        < warning
        < note
        < report.index("## App `shop-web`")
        < report.index("## App `shop-api`")
    )
    assert "**PersistentVolumeClaim/data** (pvc.yaml:7): No volumes on Moorage." in report
    assert "To do: Use an add-on or object storage." in report
    assert "Secret creds holds <redacted>" in report
    assert "add-on postgresql as DATABASE_URL, in place of StatefulSet/db (db.yaml:1)" in report
    assert "`DB_HOST` rewritten from the add-on: `{host}`" in report
    assert "- config `DB_PASSWORD` = secret, not written" in report
    assert "process `web` x2 (standard-1x)" in report and "Service/web (spec/all.yaml:40)" in report
    assert "release phase: `python migrate.py --password ${DB_PASSWORD}`" in report
    assert "From: Job/migrate (spec/all.yaml:90)" in report
    assert "Objects neither converted nor reported" not in report
    assert "10 objects read, 2 apps. 1 error, 1 warning, 1 note." in report


def test_report_lists_uncovered_objects(tmp_path: Path) -> None:
    conv = conversion()
    conv.objects.append(obj(src("ConfigMap", "forgotten", "cm.yaml", 4), {}))
    write(conv, tmp_path)
    report = (tmp_path / "REPORT.md").read_text()
    assert (
        "## Objects neither converted nor reported\n\n- ConfigMap/forgotten (cm.yaml:4)" in report
    )
    assert to_json(conv)["uncovered"] == [
        {"file": "cm.yaml", "line": 4, "kind": "ConfigMap", "name": "forgotten"}
    ]


def test_render_findings_orders_by_severity_then_place() -> None:
    conv = conversion()
    text = render_findings(conv.findings)
    lines = text.splitlines()
    assert lines[0] == ("error: PersistentVolumeClaim/data (pvc.yaml:7): No volumes on Moorage.")
    assert lines[1] == "  to do: Use an add-on or object storage."
    assert lines[2].startswith("warning: Secret/creds (secret.yaml:3)")
    assert lines[4].startswith("info: Namespace/shop (ns.yaml:1)")
    assert lines[-1] == "1 error, 1 warning, 1 note."
    assert render_findings([]) == ""


def test_to_json_is_serializable_and_counts() -> None:
    data = to_json(conversion())
    json.dumps(data)
    assert data["summary"] == {"apps": 2, "objects": 10, "error": 1, "warning": 1, "info": 1}
    assert [f["severity"] for f in data["findings"]] == ["error", "warning", "info"]
    assert data["findings"][0] == {
        "severity": "error", "kind": "PersistentVolumeClaim", "name": "data", "file": "pvc.yaml",
        "line": 7, "why": "No volumes on Moorage.", "todo": "Use an add-on or object storage.",
    }  # fmt: skip
    assert data["objects"][0]["source"] == {
        "file": "spec/all.yaml",
        "line": 1,
        "kind": "Deployment",
        "name": "web",
    }
    assert [a["name"] for a in data["apps"]] == ["shop-web", "shop-api"]


def test_bad_or_repeated_app_names_are_refused(tmp_path: Path) -> None:
    conv = conversion()
    conv.apps[1].name = "../escape"
    with pytest.raises(InvalidName):
        write(conv, tmp_path)
    conv.apps[1].name = "shop-web"
    with pytest.raises(InvalidParams, match="shop-web"):
        write(conv, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_empty_conversion_still_writes_a_report(tmp_path: Path) -> None:
    finding = Finding(
        "error", src("(no kind)", "(document 1)", "x.yaml", 2), "Not an object.", "Fix it."
    )
    assert write(Conversion([], None, [finding], []), tmp_path / "o") == [
        tmp_path / "o" / "REPORT.md"
    ]
    report = (tmp_path / "o" / "REPORT.md").read_text()
    assert "0 objects read, 0 apps. 1 error," in report and "(no kind)/(document 1)" in report
