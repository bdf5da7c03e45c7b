"""``app.json`` as a template for new apps (review apps): ``env``, ``addons``, ``scripts``
(``postdeploy``, ``pr-predestroy``) and ``formation``, with ``environments.review``
overriding them, as Heroku's app.json schema describes it. Pure.

An env var is a string, or ``{"value": ..., "generator": "secret", "required": bool}``: a
``secret`` generator makes 64 hex characters per app; a required var without a value must
come from the pipeline's own review-app config (:func:`resolve_env` says which are missing).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from moorage.errors import InvalidParams
from moorage.spec.names import validate_config_key, validate_process_type

MAX_ADDONS = 10


@dataclass
class EnvVar:
    value: str | None = None
    generator: str | None = None  # "secret"
    required: bool = True


@dataclass
class Template:
    env: dict[str, EnvVar] = field(default_factory=dict)
    addons: list[tuple[str, str]] = field(default_factory=list)  # (plan, attachment or "")
    postdeploy: str | None = None
    predestroy: str | None = None
    formation: dict[str, int] = field(default_factory=dict)  # process type -> quantity


def parse_template(text: str, environment: str = "review") -> Template:
    """The template ``app.json`` gives a new app of ``environment``; a missing file is
    an empty template (``{}``)."""
    try:
        doc = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise InvalidParams(f"app.json is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidParams("app.json is nested too deeply to read; simplify it.") from exc
    if not isinstance(doc, dict):
        raise InvalidParams("app.json must be a JSON object (env, addons, scripts, ...).")
    envs = doc.get("environments")
    override = envs.get(environment) if isinstance(envs, dict) else None
    merged = {**doc, **(override if isinstance(override, dict) else {})}
    if isinstance(override, dict) and isinstance(override.get("env"), dict):
        merged["env"] = {**_mapping(doc.get("env"), "env"), **override["env"]}
    return Template(
        env=_env(merged.get("env")),
        addons=_addons(merged.get("addons")),
        postdeploy=_script(merged.get("scripts"), "postdeploy"),
        predestroy=_script(merged.get("scripts"), "pr-predestroy"),
        formation=_formation(merged.get("formation")),
    )


def _mapping(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParams(f"app.json: `{where}` must be an object.")
    return value


def _env(raw: object) -> dict[str, EnvVar]:
    out: dict[str, EnvVar] = {}
    for key, spec in _mapping(raw, "env").items():
        name = validate_config_key(str(key))
        if isinstance(spec, (str, int, float, bool)):
            out[name] = EnvVar(value=str(spec).lower() if isinstance(spec, bool) else str(spec))
            continue
        if not isinstance(spec, dict):
            raise InvalidParams(f"app.json: env.{name} is a string or an object with `value`.")
        generator = spec.get("generator")
        if generator not in (None, "secret"):
            raise InvalidParams(f"app.json: env.{name}: the only generator is `secret`.")
        value = spec.get("value")
        out[name] = EnvVar(
            value=None if value is None else str(value),
            generator=generator,
            required=bool(spec.get("required", True)),
        )
    return out


def _addons(raw: object) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_ADDONS:
        raise InvalidParams(f"app.json: `addons` is a list of at most {MAX_ADDONS} plans.")
    out: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, str) and item:
            out.append((item, ""))
        elif isinstance(item, dict) and isinstance(item.get("plan"), str) and item["plan"]:
            out.append((item["plan"], str(item.get("as") or "")))
        else:
            raise InvalidParams('app.json: each add-on is a plan name or {"plan": ..., "as": ...}.')
    return out


def _script(raw: object, name: str) -> str | None:
    value = _mapping(raw, "scripts").get(name)
    if isinstance(value, dict):  # {"command": "...", "size": "..."}
        value = value.get("command")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidParams(f"app.json: scripts.{name} is a command string.")
    return value.strip()


def _formation(raw: object) -> dict[str, int]:
    out: dict[str, int] = {}
    for ptype, spec in _mapping(raw, "formation").items():
        quantity = spec.get("quantity", 1) if isinstance(spec, dict) else None
        if not isinstance(quantity, int) or not 0 <= quantity <= 100:
            raise InvalidParams(f"app.json: formation.{ptype} has a quantity from 0 to 100.")
        out[validate_process_type(str(ptype))] = quantity
    return out


def resolve_env(template: Template, given: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The config of a new app: ``given`` (the pipeline's review-app config) wins, then the
    template's values and generated secrets; and the required vars nothing gave."""
    config: dict[str, str] = {}
    missing: list[str] = []
    for key, var in template.env.items():
        if key in given:
            continue
        if var.generator == "secret":
            config[key] = secrets.token_hex(32)
        elif var.value is not None:
            config[key] = var.value
        elif var.required:
            missing.append(key)
    return {**config, **given}, sorted(missing)
