"""``k8s:import``: the API calls that make the platform match a :class:`Conversion`.

:func:`plan_app` is pure: the conversion's plan of one app and what the API says exists
(app, config, add-on attachments, formation, schedules) in, a list of :class:`Step` out.
An empty list means the app already matches, so a second import changes nothing. The CLI
shows the steps, then runs them in order (add-ons before the config vars copied from their
URL). Secret values never appear in a step's text.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

from moorage.convert.model import AppPlan
from moorage.errors import InvalidParams
from moorage.spec.imageref import parse as parse_ref

_PLACEHOLDERS = r"\{(host|port|user|password|database|url)\}"


class Act(StrEnum):
    """What a step does; the CLI runs each through its typed client function."""

    CREATE_APP = "create app"
    ADOPT_APP = "adopt app"
    SET_PRIVATE = "set private"
    JOIN_GROUP = "join group"
    CREATE_ADDON = "create add-on"
    ATTACH_ADDON = "attach add-on"
    SET_CONFIG = "set config vars"
    FORMATION = "update formation"
    CREATE_VOLUME = "create volume"
    MOUNT_VOLUME = "mount volume"
    REGISTRY_LOGIN = "add registry login"
    RELEASE_IMAGES = "release images"
    ADD_DOMAIN = "add domain"
    ADD_SCHEDULE = "add schedule"


_WHERE = {  # the API call each kind of step amounts to (``{app}``, ``{key}`` filled in)
    Act.CREATE_APP: ("POST", "/apps"),
    Act.ADOPT_APP: ("PATCH", "/apps/{app}"),
    Act.SET_PRIVATE: ("PATCH", "/apps/{app}"),
    Act.JOIN_GROUP: ("PATCH", "/apps/{app}"),
    Act.CREATE_ADDON: ("POST", "/apps/{app}/addons"),
    Act.ATTACH_ADDON: ("POST", "/addon-attachments"),
    Act.SET_CONFIG: ("PATCH", "/apps/{app}/config-vars"),
    Act.FORMATION: ("PATCH", "/apps/{app}/formation"),
    Act.CREATE_VOLUME: ("POST", "/apps/{app}/volumes"),
    Act.MOUNT_VOLUME: ("PATCH", "/apps/{app}/volumes/{key}"),
    Act.REGISTRY_LOGIN: ("PUT", "/apps/{app}/registry-logins/{key}"),
    Act.RELEASE_IMAGES: ("POST", "/apps/{app}/image-releases"),
    Act.ADD_DOMAIN: ("POST", "/apps/{app}/domains"),
    Act.ADD_SCHEDULE: ("POST", "/apps/{app}/schedules"),
}


@dataclass(frozen=True)
class Step:
    """One change of an import: ``act`` on ``app`` with ``body`` (the fields of the change,
    as the API takes them); ``key`` names the volume or registry host it is about."""

    what: str  # for people: "create app shop-web", "set 3 config vars (PASSWORD, ...)"
    act: Act
    app: str
    body: Any = None
    key: str = ""

    @property
    def method(self) -> str:
        """The HTTP method of the API call the step amounts to (for people and tests: the
        CLI runs steps through the typed client, not from this)."""
        return _WHERE[self.act][0]

    @property
    def path(self) -> str:
        """The API resource the step changes (for people and tests, as :attr:`method`)."""
        return _WHERE[self.act][1].format(app=self.app, key=self.key)


@dataclass
class Current:
    """What the API reports about one app (``exists`` False: nothing yet)."""

    exists: bool = False
    config: dict[str, str] = field(default_factory=dict)
    attachments: list[str] = field(default_factory=list)  # attachment names: DATABASE, ...
    formation: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: list[tuple[str, str]] = field(default_factory=list)  # (cron, command)
    group: str | None = None
    aliases: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    release_command: str | None = None
    image_sources: dict[str, str] = field(default_factory=dict)  # type -> image released
    registry_logins: dict[str, str] = field(default_factory=dict)  # host -> username
    origin: str | None = None  # the import that created the app (None: made otherwise)
    private: bool = False  # internal_routing
    volumes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # mounts


def url_parts(url: str) -> dict[str, str]:
    """``{host}``, ``{port}``, ``{user}``, ``{password}``, ``{database}`` of an add-on URL
    (empty where a URL set by hand has none, or an unreadable one: ``[::1``, port 99999)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return dict.fromkeys(("host", "port", "user", "password", "database"), "") | {"url": url}
    try:
        port = str(parts.port or "")
    except ValueError:
        port = ""
    return {
        "host": parts.hostname or "",
        "port": port,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/"),
        "url": url,
    }


def _rewritten(plan: AppPlan, config: dict[str, str]) -> dict[str, str]:
    """Config vars computed from add-on URLs (once the add-ons exist)."""
    out: dict[str, str] = {}
    for need in plan.addons:
        url = config.get(f"{need.attachment}_URL")
        if url is None:
            continue
        parts = url_parts(url)
        for key, template in need.rewrites.items():
            if key == f"{need.attachment}_URL":
                continue  # the add-on sets it itself
            out[key] = _fill(template, f"{need.attachment}_URL", parts)
    return out


def _fill(template: str, url_var: str, parts: dict[str, str]) -> str:
    """``${<url_var>}`` and ``{host}``... of ``template`` replaced in one pass, so that braces
    in the URL or in a path copied from a manifest stay text."""
    pattern = re.compile(re.escape(f"${{{url_var}}}") + "|" + _PLACEHOLDERS)

    def value(m: re.Match[str]) -> str:
        return parts[m[1]] if m[1] else parts["url"]

    return pattern.sub(value, template)


def _desired_config(
    plan: AppPlan, current: Current, shared: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Plain values, generated secrets (only for keys not set yet; one value per origin,
    kept in ``shared`` across the import's apps) and add-on rewrites."""
    want: dict[str, str] = {}
    generated = []
    for var in plan.config:
        if var.value is not None:
            want[var.key] = var.value
        elif var.key not in current.config:
            value = shared.get(var.origin or "") or secrets.token_urlsafe(24)
            if var.origin:
                shared[var.origin] = value
            want[var.key] = value
            generated.append(var.key)
    want.update(_rewritten(plan, current.config))
    return want, generated


def plan_app(
    plan: AppPlan,
    current: Current,
    group: str | None,
    owners: dict[tuple[str, str], str] | None = None,
    images: bool = False,
    shared: dict[str, str] | None = None,
    origin: str = "",
) -> list[Step]:
    """The steps that make the app match ``plan`` (after add-ons exist: run it twice).

    ``owners`` maps (service, attachment) to the app that provisions a shared add-on; the
    other apps attach it (``APP::ATTACHMENT``) instead of provisioning their own. With
    ``images``, the manifests' images are released too (once the config is in place).
    ``shared``: generated values by origin, shared by the plans of one import (see
    :func:`shared_values`). ``origin``: the import's identity, recorded on the apps it
    creates (and on an app it adopts: see :func:`foreign`)."""
    app = plan.name
    steps = _app_steps(plan, current, group, origin)
    steps += _addon_steps(plan, current, owners or {})
    want, generated = _desired_config(plan, current, shared if shared is not None else {})
    changed = {k: v for k, v in want.items() if current.config.get(k) != v}
    if changed:
        keys = ", ".join(sorted(changed))
        note = f" (generated: {', '.join(sorted(generated))})" if generated else ""
        steps.append(Step(f"set config vars {keys}{note}", Act.SET_CONFIG, app, changed))
    steps += _formation_steps(plan, current)
    steps += _volume_steps(plan, current)
    if plan.release_command and plan.release_command != current.release_command:
        steps.append(
            Step(
                f"set the release phase: {_shown(plan, plan.release_command)}",
                Act.FORMATION,
                app,
                {"updates": [{"type": "release", "command": plan.release_command}]},
            )
        )
    steps += _login_steps(plan, current)
    if images:
        steps += image_steps(plan, current)
    for host in plan.domains:
        if host not in current.domains:
            steps.append(Step(f"add domain {host}", Act.ADD_DOMAIN, app, {"hostname": host}))
    for job in plan.schedules:
        if (job.cron, job.command) not in current.schedules:
            body = {"schedule": job.cron, "command": job.command}
            steps.append(
                Step(
                    f"schedule {job.name}: {job.cron} {_shown(plan, job.command)}",
                    Act.ADD_SCHEDULE,
                    app,
                    body,
                )
            )
    return steps


def _app_steps(plan: AppPlan, current: Current, group: str | None, origin: str) -> list[Step]:
    """The app itself: made (or adopted), private or public, in its group."""
    app, steps = plan.name, []
    mark = {"moorage": {"origin": origin}} if origin else {}
    if not current.exists:
        body = {"name": app, **mark, **({"internal_routing": True} if plan.private else {})}
        what = f"create {'private ' if plan.private else ''}app {app}"
        steps.append(Step(what, Act.CREATE_APP, app, body))
    elif origin and current.origin != origin:
        steps.append(Step(f"adopt app {app} ({_made_by(current)})", Act.ADOPT_APP, app, mark))
    if current.exists and current.private != plan.private:
        what = f"make {app} {'private' if plan.private else 'public'}"
        steps.append(Step(what, Act.SET_PRIVATE, app, {"internal_routing": plan.private}))
    if group and (current.group != group or sorted(current.aliases) != sorted(plan.aliases)):
        names = ", ".join(plan.aliases) or "no aliases"
        steps.append(
            Step(
                f"put {app} in group {group} ({names})",
                Act.JOIN_GROUP,
                app,
                {"moorage": {"group": group, "aliases": plan.aliases}},
            )
        )
    return steps


def _addon_steps(plan: AppPlan, current: Current, owners: dict[tuple[str, str], str]) -> list[Step]:
    app, steps = plan.name, []
    for need in plan.addons:
        if need.attachment in current.attachments:
            continue
        owner = owners.get((need.service, need.attachment), app)
        if owner != app:
            body: dict[str, Any] = {
                "addon": f"{owner}::{need.attachment}",
                "app": app,
                "name": need.attachment,
            }
            what = f"attach {owner}'s {need.service} as {need.attachment}_URL"
            steps.append(Step(what, Act.ATTACH_ADDON, app, body))
            continue
        body = {"plan": need.service, "attachment": {"name": need.attachment}}
        steps.append(
            Step(f"add {need.service} as {need.attachment}_URL", Act.CREATE_ADDON, app, body)
        )
    return steps


def _volume_steps(plan: AppPlan, current: Current) -> list[Step]:
    """Persistent volumes, mounted before the first release starts the process."""
    steps = []
    for v in plan.volumes:
        mount = {"process_type": v.process_type, "path": v.path}
        what = f"volume {v.name} at {v.path} in {v.process_type}"
        if v.name not in current.volumes:
            body = {"name": v.name, "size": v.size, **mount}
            steps.append(Step(f"create {what} ({v.size})", Act.CREATE_VOLUME, plan.name, body))
        elif current.volumes[v.name] != (v.process_type, v.path):
            steps.append(Step(f"mount {what}", Act.MOUNT_VOLUME, plan.name, mount, v.name))
    return steps


def _login_steps(plan: AppPlan, current: Current) -> list[Step]:
    """Registry credentials from imagePullSecrets (the password only in the body)."""
    steps = []
    for login in plan.registry_logins:
        if current.registry_logins.get(login.host) != login.username:
            body = {"username": login.username, "password": login.password}
            what = f"add registry credentials for {login.host} (user {login.username})"
            steps.append(Step(what, Act.REGISTRY_LOGIN, plan.name, body, login.host))
    return steps


def _shown(plan: AppPlan, command: str) -> str:
    """``command`` for people: each secret config value replaced by ``${KEY}``."""
    for var in plan.config:
        if var.secret and var.value:
            command = command.replace(var.value, f"${{{var.key}}}")
    return command


def image_steps(plan: AppPlan, current: Current) -> list[Step]:
    """One release per distinct image the processes run that is not released yet (a
    manifest whose tag changed makes one new release; the same manifests, none)."""
    by_image: dict[str, list[str]] = {}
    for p in plan.processes:
        if p.image:
            try:
                ref = str(parse_ref(p.image))
            except InvalidParams:
                continue  # a finding says so; the process waits for a push
            by_image.setdefault(ref, []).append(p.type)
    steps = []
    for ref, types in by_image.items():
        if all(current.image_sources.get(t) == ref for t in types):
            continue
        body = {"updates": [{"type": t, "image": ref} for t in types]}
        what = f"release {', '.join(types)} from {ref}"
        steps.append(Step(what, Act.RELEASE_IMAGES, plan.name, body))
    return steps


def _formation_steps(plan: AppPlan, current: Current) -> list[Step]:
    declare: list[dict[str, Any]] = []
    shape: list[dict[str, Any]] = []
    for p in plan.processes:
        now = current.formation.get(p.type)
        if now is None:
            declare.append(
                {
                    "type": p.type,
                    "command": p.command or "",
                    "replaces_entrypoint": p.replaces_entrypoint,
                }
            )
        want = {
            "type": p.type,
            "quantity": p.quantity,
            "size": p.size,
            **({"port": p.port} if p.port else {}),
            **({"check_path": p.check_path} if p.check_path else {}),
            **({"ports": [{"port": s, "target_port": t} for s, t in p.ports]} if p.ports else {}),
        }
        if now is None or any(now.get(k) != v for k, v in want.items() if k != "type"):
            shape.append(want)
        elif (now.get("command") or "") != (p.command or "") or bool(
            now.get("replaces_entrypoint")
        ) != p.replaces_entrypoint:
            shape.append(
                {
                    "type": p.type,
                    "command": p.command or "",
                    "replaces_entrypoint": p.replaces_entrypoint,
                }
            )
    steps = []
    if declare:
        types = ", ".join(d["type"] for d in declare)
        steps.append(
            Step(
                f"declare process types {types}",
                Act.FORMATION,
                plan.name,
                {"updates": declare},
            )
        )
    if shape:
        what = ", ".join(f"{s['type']}={s.get('quantity', '')}:{s.get('size', '')}" for s in shape)
        steps.append(Step(f"scale {what}", Act.FORMATION, plan.name, {"updates": shape}))
    return steps


def _made_by(current: Current) -> str:
    if current.origin is None:
        return "it was made with apps:create, not by an import"
    return f"it was made by another import ({current.origin})"


def foreign(currents: dict[str, Current], origin: str) -> list[str]:
    """Existing apps this import did not make: it changes them only when told (--adopt)."""
    return [
        f"{name} ({_made_by(c)})" for name, c in currents.items() if c.exists and c.origin != origin
    ]


def shared_values(plans: list[AppPlan], currents: dict[str, Current]) -> dict[str, str]:
    """Values that apps already hold for a generated origin (a second import, or an app
    added later), so that every app reading the same Secret key gets the same one."""
    out: dict[str, str] = {}
    for plan in plans:
        config = currents[plan.name].config
        for var in plan.config:
            if var.value is None and var.origin and var.key in config:
                out.setdefault(var.origin, config[var.key])
    return out


def addon_owners(plans: list[AppPlan]) -> dict[tuple[str, str], str]:
    """The first app that needs each (service, attachment) provisions it for all."""
    owners: dict[tuple[str, str], str] = {}
    for plan in plans:
        for need in plan.addons:
            owners.setdefault((need.service, need.attachment), plan.name)
    return owners
