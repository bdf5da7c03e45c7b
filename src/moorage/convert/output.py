"""Write a :class:`Conversion` out: per app ``heroku.yml``, ``app.json``, ``Procfile`` and
``moorage.json``, plus one ``REPORT.md``; and render it for stderr and ``--json``.

Secret values never leave this module in clear: a config var is secret when the plan marks
it so, when it has no value, or when its value contains the value of a secret (a secret var
of any app, or any entry of a Kubernetes Secret that was read). Secret vars are written as
``"generator": "secret"`` (self-contained keys such as ``SECRET_KEY``) or
``"required": true``; a secret value inside a command becomes ``${KEY}`` (or ``<redacted>``),
and anywhere else ``<redacted>``. Values shorter than 4 characters are only hidden as whole
config vars, not searched for inside other text.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from moorage.convert.kinds.literals import whole
from moorage.convert.model import AppPlan, ConfigVar, Conversion, Finding, Source
from moorage.errors import InvalidParams
from moorage.spec.names import validate_app_name

_MIN_SECRET = 4
_GENERATED = re.compile(
    r"(^|_)(SECRET_KEY(_BASE)?|SESSION_SECRET|COOKIE_SECRET|JWT_SECRET|SIGNING_KEY|APP_KEY|SALT)$"
)
_SEVERITIES = (("error", "Errors"), ("warning", "Warnings"), ("info", "Notes"))
_REDACTED = "<redacted>"
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")


class _Secrets:
    """The secret values of a conversion, and how to keep them out of written text."""

    def __init__(self, conv: Conversion) -> None:
        found: dict[str, str | None] = {}
        for obj in conv.objects:
            if obj.kind == "Secret":
                for value in _secret_entries(obj.body):
                    found.setdefault(value, None)
        for app in conv.apps:
            for var in app.config:
                if var.secret and var.value:
                    found[var.value] = var.key
            for login in app.registry_logins:
                found.setdefault(login.password, None)
        self.exact = set(found)
        self.search = sorted(
            ((v, k) for v, k in found.items() if len(v) >= _MIN_SECRET),
            key=lambda item: -len(item[0]),
        )

    def is_secret(self, var: ConfigVar) -> bool:
        """Whether ``var``'s value must not be written."""
        if var.secret or var.value is None or var.value in self.exact:
            return True
        return any(value in var.value for value, _ in self.search)

    def command(self, text: str | None) -> str | None:
        """``text`` with every secret value replaced by ``${KEY}`` (or ``<redacted>``)."""
        if text is None:
            return None
        for value, key in self.search:  # whole tokens: "--username" keeps its "username"
            text = whole(value).sub(f"${{{key}}}" if key else _REDACTED, text)
        return text

    def text(self, text: str) -> str:
        """``text`` with every secret value replaced by ``<redacted>``."""
        for value, _ in self.search:
            text = text.replace(value, _REDACTED)
        return text

    def scrub(self, data: Any) -> Any:
        """A copy of JSON-like ``data`` with :meth:`text` applied to every string."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {key: self.scrub(value) for key, value in data.items()}
        if isinstance(data, list | tuple):
            return [self.scrub(value) for value in data]
        return data


def _secret_entries(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    data = body.get("data")
    for value in data.values() if isinstance(data, dict) else []:
        try:
            out.append(base64.b64decode(str(value), validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            out.append(str(value))
    string_data = body.get("stringData")
    out += [str(v) for v in (string_data.values() if isinstance(string_data, dict) else [])]
    return [v for v in out if v]


# --- public API -------------------------------------------------------------------------


def write(conv: Conversion, out_dir: Path) -> list[Path]:
    """Write every app's files under ``out_dir/<app>/`` and ``out_dir/REPORT.md``.

    Returns the paths written, in order. Existing files of the same names are replaced;
    nothing else in ``out_dir`` is touched. No secret value is written (see the module
    docstring). Raises :class:`InvalidParams` for app names that are invalid or repeated.
    """
    secrets = _Secrets(conv)
    names = [validate_app_name(app.name) for app in conv.apps]
    repeated = sorted(name for name, n in Counter(names).items() if n > 1)
    if repeated:
        raise InvalidParams(f"Two apps of the conversion are named {', '.join(repeated)}.")
    written: list[Path] = []
    for app in conv.apps:
        folder = out_dir / app.name
        folder.mkdir(parents=True, exist_ok=True)
        plan = {"group": conv.group, **_plan_json(app, secrets)}
        files = {
            "heroku.yml": _heroku_yml(app, secrets),
            "app.json": _dump_json(_app_json(app, secrets)),
            "Procfile": _procfile(app, secrets),
            "moorage.json": _dump_json(plan),
        }
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
            written.append(folder / name)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "REPORT.md").write_text(_report(conv, secrets), encoding="utf-8")
    written.append(out_dir / "REPORT.md")
    return written


def render_findings(findings: list[Finding]) -> str:
    """Findings as plain text for stderr, errors first, then by file and line.

    Each finding is two lines (what and why, then what to do); the last line counts them.
    Empty string when there are none.
    """
    if not findings:
        return ""
    lines = []
    for finding in _ordered(findings):
        lines.append(f"{finding.severity}: {finding.source}: {finding.why}")
        lines.append(f"  to do: {finding.todo}")
    lines.append(_summary(findings))
    return "\n".join(lines) + "\n"


def to_json(conv: Conversion) -> dict[str, Any]:
    """The conversion for ``--json``: apps (as in moorage.json), findings, objects read,
    uncovered objects and counts. JSON-serializable; contains no secret value."""
    secrets = _Secrets(conv)
    counts: Counter[str] = Counter(f.severity for f in conv.findings)
    return {
        "group": conv.group,
        "apps": [_plan_json(app, secrets) for app in conv.apps],
        "findings": [secrets.scrub(_finding_json(f)) for f in _ordered(conv.findings)],
        "objects": [
            {
                "kind": o.kind,
                "api_version": o.api_version,
                "name": o.name,
                "namespace": o.namespace,
                "source": dataclasses.asdict(o.source),
            }
            for o in conv.objects
        ],
        "uncovered": [dataclasses.asdict(o.source) for o in conv.uncovered()],
        "summary": {
            "apps": len(conv.apps),
            "objects": len(conv.objects),
            **{severity: counts[severity] for severity, _ in _SEVERITIES},
        },
    }


# --- per-app files ----------------------------------------------------------------------


def _plan_json(app: AppPlan, secrets: _Secrets) -> dict[str, Any]:
    """``dataclasses.asdict(app)`` without secret values."""
    plan = dataclasses.asdict(app)
    for var, entry in zip(app.config, plan["config"], strict=True):
        if secrets.is_secret(var):
            entry["value"] = None
            entry["secret"] = True
    for entry in plan["processes"] + plan["schedules"]:
        entry["command"] = secrets.command(entry["command"])
    plan["release_command"] = secrets.command(plan["release_command"])
    for login in plan["registry_logins"]:
        login["password"] = None
    scrubbed: dict[str, Any] = secrets.scrub(plan)
    return scrubbed


def _dockerfiles(app: AppPlan) -> dict[str, str]:
    """Process type -> Dockerfile for the processes without a prebuilt image (one per
    distinct image, ``Dockerfile`` for the first)."""
    by_image: dict[str | None, str] = {}
    out = {}
    for process in app.processes:
        if process.image:
            continue
        if process.image not in by_image:
            by_image[process.image] = "Dockerfile" if not by_image else f"Dockerfile.{process.type}"
        out[process.type] = by_image[process.image]
    return out


def _heroku_yml(app: AppPlan, secrets: _Secrets) -> str:
    dockerfiles = _dockerfiles(app)
    header = [f"# {app.name}: converted from Kubernetes by `moor k8s:convert`."]
    for process in app.processes:
        if process.image:
            image = _comment(process.image)
            header.append(
                f"# {process.type}: runs the prebuilt image {image} (`moor k8s:import` releases "
                f"it; to build it instead, add a Dockerfile under build: docker:)"
            )
        else:
            header.append(f"# {process.type}: built from {dockerfiles[process.type]}")
        if process.port is not None:
            header.append(f"#   listens on port {process.port}, not $PORT (see moorage.json)")
    doc: dict[str, Any] = {"build": {"docker": dockerfiles}} if dockerfiles else {}
    run = {p.type: secrets.command(p.command) for p in app.processes if p.command}
    if run:
        doc["run"] = run
    if app.release_command:
        types = [p.type for p in app.processes]
        image = "web" if "web" in types else next(iter(types), "web")
        doc["release"] = {"image": image, "command": secrets.command(app.release_command)}
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)
    return "\n".join(secrets.text(line) for line in header) + "\n" + body


def _procfile(app: AppPlan, secrets: _Secrets) -> str:
    lines = [f"# {app.name}: converted from Kubernetes by `moor k8s:convert`."]
    entries = [(p.type, p.command) for p in app.processes]
    if app.release_command:
        entries.append(("release", app.release_command))
    for ptype, command in entries:
        safe = secrets.command(command)
        if safe is None:
            lines.append(f"# {ptype}: runs its image's own command (CMD)")
        elif safe.splitlines() != [safe]:  # \n, \r, \x85, \u2028... end a Procfile line
            lines.append(f"# {ptype}: a multi-line command, see heroku.yml")
        else:
            lines.append(f"{ptype}: {safe}")
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    """``text`` for a YAML comment: line breaks and characters YAML refuses become U+FFFD."""
    return _UNPRINTABLE.sub("\ufffd", text)


def _env_entry(var: ConfigVar, secrets: _Secrets) -> dict[str, Any]:
    description = secrets.text(var.description) or f"{var.key}, from the Kubernetes manifests"
    if not secrets.is_secret(var):
        return {"description": description, "value": var.value}
    if var.value is not None and _GENERATED.search(var.key.upper()):
        return {"description": description, "generator": "secret"}
    return {
        "description": f"{description} (secret: set it with `moor config:set {var.key}=...`)",
        "required": True,
    }


def _app_json(app: AppPlan, secrets: _Secrets) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": app.name,
        "description": "Converted from Kubernetes by moor k8s:convert",
        "env": {var.key: _env_entry(var, secrets) for var in app.config},
        "formation": {p.type: {"quantity": p.quantity, "size": p.size} for p in app.processes},
        "addons": [{"plan": a.service, "as": a.attachment} for a in app.addons],
    }
    checks = {
        p.type: [{"type": "startup", "name": f"{p.type} check", "path": p.check_path}]
        for p in app.processes
        if p.check_path
    }
    if checks:
        doc["healthchecks"] = checks
    if app.schedules:
        doc["cron"] = [
            {"command": secrets.command(j.command), "schedule": j.cron} for j in app.schedules
        ]
    scrubbed: dict[str, Any] = secrets.scrub(doc)
    return scrubbed


def _dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# --- REPORT.md --------------------------------------------------------------------------


def _ordered(findings: list[Finding]) -> list[Finding]:
    rank = {severity: n for n, (severity, _) in enumerate(_SEVERITIES)}
    return sorted(
        findings,
        key=lambda f: (rank.get(f.severity, 9), f.source.file, f.source.line, f.source.name),
    )


def _summary(findings: list[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    parts = [(counts["error"], "error"), (counts["warning"], "warning"), (counts["info"], "note")]
    return ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in parts) + "."


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "severity": finding.severity,
        "kind": finding.source.kind,
        "name": finding.source.name,
        "file": finding.source.file,
        "line": finding.source.line,
        "why": finding.why,
        "todo": finding.todo,
    }


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("`", "'")


def _sources(sources: list[Source]) -> str:
    return ", ".join(f"{s.kind}/{s.name} ({s.file}:{s.line})" for s in sources) or "-"


def _report(conv: Conversion, secrets: _Secrets) -> str:
    lines = ["# Kubernetes conversion report", ""]
    lines.append(
        f"{len(conv.objects)} objects read, {len(conv.apps)} apps. {_summary(conv.findings)}"
    )
    if conv.group:
        lines += ["", f"The apps form the group `{conv.group}`."]
    actions = [f for f in _ordered(conv.findings) if not _nothing_to_do(f)]
    if actions:
        lines += ["", f"## What you need to do ({len(actions)})", ""]
        for f in actions:
            what = f"{_cell(f.source.kind)}/{_cell(f.source.name)}"
            where = f"{_cell(f.source.file)}:{f.source.line}"
            label = {"error": "Error", "warning": "Warning"}.get(f.severity, "Note")
            lines += [
                f"- {label}: **{what}** ({where}): {_cell(f.why)}  ",
                f"  To do: {_cell(f.todo)}",
            ]
    lines += _done_for_you([f for f in conv.findings if _nothing_to_do(f)])
    uncovered = conv.uncovered()
    if uncovered:
        lines += ["", "## Objects neither converted nor reported", ""]
        lines += [f"- {_cell(o.source)}" for o in uncovered]
    for app in conv.apps:
        lines += ["", *_app_section(app, secrets)]
    return secrets.text("\n".join(lines) + "\n")


def _nothing_to_do(f: Finding) -> bool:
    return f.severity == "info" and f.todo.lower().startswith("nothing to do")


def _done_for_you(findings: list[Finding]) -> list[str]:
    """Findings that need nothing from the user, one counted line per topic (what the
    sentence says before its first colon), with the objects it is about."""
    if not findings:
        return []
    topics: dict[str, list[Finding]] = {}
    for f in _ordered(findings):
        head = f.why.split(":", 1)[0] if ":" in f.why[:60] else " ".join(f.why.split()[:6])
        topics.setdefault(_cell(head), []).append(f)
    lines = ["", f"## Done for you ({len(findings)}: nothing to do)", ""]
    for head, items in topics.items():
        names = ", ".join(
            dict.fromkeys(f"{_cell(f.source.kind)}/{_cell(f.source.name)}" for f in items)
        )
        lines.append(f"- {head} ({len(items)}): {names}")
    return lines


def _app_section(app: AppPlan, secrets: _Secrets) -> list[str]:
    lines = [f"## App `{app.name}`", "", f"From: {_sources(app.sources)}", ""]
    for p in app.processes:
        command = _cell(secrets.command(p.command) or "the image's own command")
        extras = [f"image {_cell(p.image or '-')}"]
        extras += [f"port {p.port}"] if p.port else []
        extras += [f"health check {_cell(p.check_path)}"] if p.check_path else []
        lines.append(
            f"- process `{p.type}` x{p.quantity} ({p.size}): `{command}`, {', '.join(extras)}; "
            f"from {_sources(p.sources)}"
        )
    for var in app.config:
        value = "secret, not written" if secrets.is_secret(var) else f"`{_cell(var.value)}`"
        lines.append(f"- config `{var.key}` = {value}: {_cell(var.description) or '-'}")
    for addon in app.addons:
        lines.append(
            f"- add-on {addon.service} as {addon.attachment}_URL, in place of "
            f"{_sources(addon.replaces)}"
        )
        for key, template in addon.rewrites.items():
            lines.append(f"  - `{key}` rewritten from the add-on: `{_cell(template)}`")
    if app.release_command:
        lines.append(f"- release phase: `{_cell(secrets.command(app.release_command))}`")
    for job in app.schedules:
        lines.append(
            f"- scheduled `{job.name}` ({job.cron}): `{_cell(secrets.command(job.command))}`; "
            f"from {_sources(job.sources)}"
        )
    if app.domains:
        lines.append(f"- domains: {', '.join(app.domains)}")
    if app.private:
        lines.append("- private: not on the router (Heroku's internal_routing)")
    if app.aliases:
        lines.append(f"- reachable on the private network as: {', '.join(app.aliases)}")
    if app.autoscale:
        lines.append(f"- autoscaling (HPA): {app.autoscale[0]} to {app.autoscale[1]} dynos")
    return lines
