"""An app's containers' env -> its config vars and the rewrites of its add-ons.

:func:`app_env` merges the resolved env of every container of one app (web, workers,
Jobs): variables that reached a database become :class:`AddonNeed` rewrites, the others
config vars; differences between containers, missing references, platform-owned and
invalid names become findings.
"""

from __future__ import annotations

from moorage.convert.kinds import finding, refs
from moorage.convert.kinds.config import EnvResult, EnvVar, MissingRef, config_var
from moorage.convert.kinds.databases import Database, masked, missing_ref_reaches, rewrite
from moorage.convert.model import AddonNeed, AppPlan, ConfigVar, Finding, K8sObject
from moorage.errors import InvalidParams
from moorage.spec.names import CONFIG_KEY_RE, validate_config_value


def app_env(
    plan: AppPlan,
    entries: list[tuple[K8sObject, EnvResult]],
    port: int | None,
    dbs: list[Database],
    findings: list[Finding],
) -> None:
    """Merge the env of the app's containers into ``plan.config`` and ``plan.addons``.

    The first container's value of a key wins (later different values are reported); the
    ConfigMaps/Secrets used join ``plan.sources``; ``port`` is the web port (for ``PORT``).
    """
    merged: dict[str, tuple[EnvVar, K8sObject]] = {}
    rewrites: dict[int, dict[str, str]] = {}
    for obj, res in entries:
        findings.extend(res.findings)
        plan.sources.extend(s for s in res.used if s not in plan.sources)
        kept, found = rewrite(res.vars, dbs)
        for i, templates in found.items():
            _note_rewrite(obj, res.vars, dbs[i], templates, findings)
            for key, template in templates.items():
                rewrites.setdefault(i, {}).setdefault(key, template)
        rewritten = {k for t in found.values() for k in t}
        dropped = _missing(obj, res.missing, rewritten, dbs, findings)
        for var in kept:
            if var.key in dropped:
                continue
            if var.key not in merged:
                merged[var.key] = (var, obj)
            elif merged[var.key][0].value != var.value:
                _conflict(var, obj, merged[var.key], findings)
    for i, templates in rewrites.items():
        db = dbs[i]
        plan.addons.append(AddonNeed(db.service, db.attachment, list(db.sources), templates))
    for var, obj in merged.values():
        if var.key not in {k for t in rewrites.values() for k in t}:
            _add_var(plan, var, obj, port, findings)


def _note_rewrite(
    obj: K8sObject,
    env: list[EnvVar],
    db: Database,
    templates: dict[str, str],
    findings: list[Finding],
) -> None:
    by_key = {v.key: v for v in env}
    listing = "; ".join(f"{k}: {masked(by_key[k])} -> {t}" for k, t in templates.items())
    findings.append(
        finding(
            "info",
            obj,
            f"Env rewritten for the {db.service} add-on ({db.url_var}): {listing}.",
            "Nothing to do; the values come from the add-on at import.",
        )
    )
    if not any("password" in t or "${" in t for t in templates.values()):
        findings.append(
            finding(
                "warning",
                obj,
                f"{obj.kind} {obj.name} gets only {', '.join(templates)} for the {db.service} "
                "add-on, which also needs a user and password.",
                f"Make the app read {db.url_var} (set by the add-on), or pass the password too.",
            )
        )


def _missing(
    obj: K8sObject,
    missing: list[MissingRef],
    rewritten: set[str],
    dbs: list[Database],
    findings: list[Finding],
) -> set[str]:
    """Warn about references to ConfigMaps/Secrets not in the manifests; the keys to drop."""
    dropped = set()
    for m in missing:
        if (m.var and m.var in rewritten) or missing_ref_reaches(m.name, dbs):
            continue
        what = f"{m.kind} {m.name}" + (f" (key {m.key})" if m.key else "")
        if m.optional:
            dropped |= {m.var} if m.var else set()
            findings.append(
                finding(
                    "info", obj, f"Optional {what} is not in the manifests; skipped.", "Nothing."
                )
            )
            continue
        target = f"{m.var} at import (config:set)" if m.var else "its keys with config:set"
        findings.append(
            finding(
                "warning",
                obj,
                f"{obj.kind} {obj.name} references {what}, which is not in these manifests.",
                f"Add it to the manifests and convert again, or set {target}.",
            )
        )
    return dropped


def _conflict(
    var: EnvVar, obj: K8sObject, first: tuple[EnvVar, K8sObject], findings: list[Finding]
) -> None:
    kept, where = first
    findings.append(
        finding(
            "warning",
            obj,
            f"{var.key} differs between containers: {masked(kept)} in {where.kind} {where.name}, "
            f"{masked(var)} in {obj.kind} {obj.name}; config vars are per app, the first is kept.",
            f"Give the processes different variable names, or make {obj.name} its own app.",
        )
    )


def _add_var(
    plan: AppPlan, var: EnvVar, obj: K8sObject, port: int | None, findings: list[Finding]
) -> None:
    if var.key in ("PORT", "DYNO"):
        same = var.key == "PORT" and var.value == str(port)
        findings.append(
            finding(
                "info" if same else "warning",
                obj,
                f"{var.key}={var.value} is set by the platform"
                + (f" (PORT={port}, the container port)." if port else "."),
                "Nothing to do." if same else f"Make the app read the platform's {var.key}.",
            )
        )
        return
    if not CONFIG_KEY_RE.fullmatch(var.key):
        findings.append(
            finding(
                "warning", obj, f"Env {var.key!r} is not a valid config var name.", "Rename it."
            )
        )
        return
    try:
        validate_config_value(var.key, var.value or "")
    except InvalidParams as exc:
        findings.append(
            finding("warning", obj, f"{exc} It was left out.", f"Set {var.key} with config:set.")
        )
        return
    if var.value is None and var.ref is None:
        return  # a per-pod field, already reported
    if var.value is None and var.ref is not None:
        kind, name, key = var.ref
        desc = f"{kind} {name} (key {key}) is not in the manifests: supply it."
        plan.config.append(ConfigVar(var.key, None, var.secret, desc, f"{kind}/{name}/{key}"))
        return
    unresolved = refs(var.value or "")
    if unresolved:
        findings.append(
            finding(
                "warning",
                obj,
                f"{var.key} refers to $({', $('.join(unresolved)}), which has no value "
                "here; kept as written.",
                f"Set {var.key} to its final value with config:set.",
            )
        )
    cv, note = config_var(var, obj)
    plan.config.append(cv)
    if note is not None:
        findings.append(note)
