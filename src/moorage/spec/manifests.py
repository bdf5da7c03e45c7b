"""Parsers for the files a Heroku app carries: Procfile, heroku.yml, app.json. No I/O."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from moorage.errors import InvalidParams
from moorage.spec.dyno import validate_check_path, validate_command
from moorage.spec.names import validate_process_type


@dataclass
class AppManifest:
    """What container:release sends besides images: commands, release phase, checks."""

    commands: dict[str, str] = field(default_factory=dict)  # process type -> command
    images: dict[str, str] = field(default_factory=dict)  # process type -> image type
    release_command: str | None = None
    release_image: str | None = None  # the process type whose image runs it
    check_paths: dict[str, str] = field(default_factory=dict)


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
    """``run:`` process commands (string, list, or ``{command, image}``) and ``release:``."""
    manifest = into or AppManifest()
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidParams(f"heroku.yml is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise InvalidParams("heroku.yml is nested too deeply to read; simplify it.") from exc
    if not isinstance(doc, dict):
        raise InvalidParams("heroku.yml must be a mapping with build/run/release keys.")
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
