"""Parsers for the files a Heroku app carries: Procfile, heroku.yml, app.json. No I/O."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from moorage.errors import InvalidParams
from moorage.spec.dyno import validate_check_path, validate_command
from moorage.spec.names import validate_config_key, validate_config_value, validate_process_type


@dataclass
class AppManifest:
    """What container:release sends besides images: commands, release phase, checks."""

    commands: dict[str, str] = field(default_factory=dict)  # process type -> command
    images: dict[str, str] = field(default_factory=dict)  # process type -> image type
    release_command: str | None = None
    release_image: str | None = None  # the process type whose image runs it
    check_paths: dict[str, str] = field(default_factory=dict)
    dockerfiles: dict[str, str] = field(default_factory=dict)  # heroku.yml build.docker
    build_args: dict[str, str] = field(default_factory=dict)  # heroku.yml build.config
    # heroku.yml setup: add-ons (plan, attachment name or "") and config of the first deploy
    setup_addons: list[tuple[str, str]] = field(default_factory=list)
    setup_config: dict[str, str] = field(default_factory=dict)


def _command(value: object, where: str) -> str:
    if isinstance(value, str) and value.strip():
        return validate_command(value.strip(), where)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return validate_command(shlex.join(value), where)
    raise InvalidParams(f"{where}: a command is a string or a list of strings.")


def parse_procfile(text: str, into: AppManifest | None = None) -> AppManifest:
    """``type: command`` lines; blank lines and ``#`` comments are skipped."""
    manifest = into or AppManifest()
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        ptype, sep, command = line.partition(":")
        if not sep or not command.strip():
            raise InvalidParams(f"Procfile line {n}: expected `type: command`, got {raw!r}.")
        name = validate_process_type(ptype.strip())
        line_command = validate_command(command.strip(), f"Procfile line {n}")
        if name == "release":
            manifest.release_command = line_command
        else:
            manifest.commands[name] = line_command
    return manifest


def parse_heroku_yml(text: str, into: AppManifest | None = None) -> AppManifest:
    """``build:`` (``docker`` Dockerfiles per process type, ``config`` build args), ``run:``
    process commands (string, list, or ``{command, image}``), ``release:`` and ``setup:``
    (add-ons and config vars of the first deploy)."""
    manifest = into or AppManifest()
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidParams(f"heroku.yml is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise InvalidParams("heroku.yml is nested too deeply to read; simplify it.") from exc
    if not isinstance(doc, dict):
        raise InvalidParams("heroku.yml must be a mapping with build/run/release keys.")
    _build_section(doc.get("build"), manifest)
    _setup_section(doc.get("setup"), manifest)
    run: Any = doc.get("run") or {}
    if not isinstance(run, dict):
        raise InvalidParams("heroku.yml: `run` maps process types to commands.")
    for ptype, value in run.items():
        name = validate_process_type(str(ptype))
        if isinstance(value, dict):
            manifest.commands[name] = _command(value.get("command"), f"heroku.yml run.{name}")
            if isinstance(value.get("image"), str):
                manifest.images[name] = value["image"]
        else:
            manifest.commands[name] = _command(value, f"heroku.yml run.{name}")
    release: Any = doc.get("release")
    if release is not None:
        if not isinstance(release, dict):
            raise InvalidParams("heroku.yml: `release` has `command` and optionally `image`.")
        manifest.release_command = _command(release.get("command"), "heroku.yml release")
        image = release.get("image")
        manifest.release_image = image if isinstance(image, str) else None
    return manifest


MAX_BUILD_ARGS = 100
MAX_SETUP_ADDONS = 10


def _setup_section(setup: object, manifest: AppManifest) -> None:
    """``setup: {addons: [{plan: heroku-postgresql, as: DATABASE}], config: {K: V}}``: what
    the app gets on its first deploy."""
    if setup is None:
        return
    addons: Any = setup.get("addons") if isinstance(setup, dict) else None
    config: Any = setup.get("config") if isinstance(setup, dict) else None
    if not isinstance(setup, dict) or not isinstance(addons or [], list):
        raise InvalidParams("heroku.yml: `setup` has `addons` (a list) and `config` (a mapping).")
    if len(addons or []) > MAX_SETUP_ADDONS:
        raise InvalidParams(f"heroku.yml: at most {MAX_SETUP_ADDONS} add-ons in setup.addons.")
    for item in addons or []:
        plan = item.get("plan") if isinstance(item, dict) else None
        if not isinstance(plan, str) or not plan:
            raise InvalidParams("heroku.yml: each of setup.addons has a `plan`, and may have `as`.")
        manifest.setup_addons.append((plan, str(item.get("as") or "")))
    if not isinstance(config or {}, dict):
        raise InvalidParams("heroku.yml: `setup.config` maps config var names to values.")
    for key, value in (config or {}).items():
        if isinstance(value, (dict, list)) or value is None:
            raise InvalidParams(f"heroku.yml: setup.config.{key} must be a string or number.")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        manifest.setup_config[validate_config_key(str(key))] = text


def _build_section(build: object, manifest: AppManifest) -> None:
    """``build: {docker: {web: Dockerfile, worker: worker/Dockerfile}, config: {K: V}}``."""
    if build is None:
        return
    if not isinstance(build, dict):
        raise InvalidParams("heroku.yml: `build` has `docker` (and optionally `config`).")
    docker: Any = build.get("docker") or {}
    if not isinstance(docker, dict):
        raise InvalidParams("heroku.yml: `build.docker` maps process types to Dockerfiles.")
    for ptype, path in docker.items():
        name = validate_process_type(str(ptype))
        manifest.dockerfiles[name] = validate_dockerfile_path(
            path, f"heroku.yml build.docker.{name}"
        )
    config: Any = build.get("config") or {}
    if not isinstance(config, dict) or len(config) > MAX_BUILD_ARGS:
        raise InvalidParams(
            f"heroku.yml: `build.config` maps build args to values (at most {MAX_BUILD_ARGS})."
        )
    for key, value in config.items():
        if not isinstance(value, (str, int, float, bool)) or isinstance(value, bool):
            raise InvalidParams(f"heroku.yml: build.config.{key} is a string or a number.")
        manifest.build_args[validate_config_key(str(key))] = validate_config_value(
            str(key), str(value)
        )


def validate_dockerfile_path(path: object, where: str) -> str:
    """A Dockerfile's path relative to the repository's root: no absolute path, no ``..``."""
    if not isinstance(path, str) or not path.strip() or len(path) > 255:
        raise InvalidParams(f"{where}: name a Dockerfile, such as Dockerfile or web/Dockerfile.")
    parts = path.strip().split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise InvalidParams(
            f"{where}: {path[:80]!r} is not a path inside the repository (no leading /, "
            "no .. and no empty parts)."
        )
    if any(ord(c) < 32 for c in path):
        raise InvalidParams(f"{where}: the path has control characters.")
    return path.strip()


def formation_updates(
    types: list[str], images: dict[str, str], manifest: AppManifest
) -> list[dict[str, Any]]:
    """Formation updates of a release: images by process type, process commands, the
    release phase, checks (``container:release`` and ``git push`` builds send the same)."""
    updates: dict[str, dict[str, Any]] = {}
    for ptype in types:
        updates[ptype] = {"type": ptype, "docker_image": images[ptype]}
    for ptype, command in manifest.commands.items():
        updates.setdefault(ptype, {"type": ptype})["command"] = command
    for ptype, path in manifest.check_paths.items():
        updates.setdefault(ptype, {"type": ptype})["check_path"] = path
    if manifest.release_command is not None:
        updates.setdefault("release", {"type": "release"})["command"] = manifest.release_command
    return list(updates.values())


def parse_app_json(text: str, into: AppManifest | None = None) -> AppManifest:
    """Health checks in Dokku's app.json form: ``{"healthchecks": {"web": [{"path": ...}]}}``."""
    manifest = into or AppManifest()
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidParams(f"app.json is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidParams("app.json is nested too deeply to read; simplify it.") from exc
    checks = doc.get("healthchecks") if isinstance(doc, dict) else None
    if not isinstance(checks, dict):
        return manifest
    for ptype, entries in checks.items():
        for entry in entries if isinstance(entries, list) else []:
            path = entry.get("path") if isinstance(entry, dict) else None
            if isinstance(path, str) and path.startswith("/"):
                name = validate_process_type(str(ptype))
                where = f"app.json healthchecks.{name}"
                manifest.check_paths[name] = validate_check_path(path, where)
                break
    return manifest
