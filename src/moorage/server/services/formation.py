"""Formation: quantities, sizes and ports per process type; image updates make releases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from moorage.errors import InvalidParams, NotFound
from moorage.registry.client import RegistryClient
from moorage.schemas import releases as shapes
from moorage.schemas.base import Ref
from moorage.server.services import apps, releases, volumes
from moorage.server.services.events import announce, converge
from moorage.server.store.models import App, Formation, Release, User
from moorage.spec.dyno import (
    DYNO_SIZES,
    MAX_CHECK_PATH_CHARS,
    MAX_COMMAND_CHARS,
    MAX_QUANTITY,
    validate_check_path,
    validate_command,
)
from moorage.spec.names import validate_process_type

if TYPE_CHECKING:
    from moorage.server.platform import Platform

_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII digits only; longer is out of every range


@dataclass(frozen=True)
class Update:
    type: str
    quantity: int | None = None
    size: str | None = None
    port: int | None = None
    docker_image: str | None = None
    command: str | None = None
    check_path: str | None = None  # "" clears it
    boot_timeout: int | None = None
    replaces_entrypoint: bool | None = None  # the command replaces ENTRYPOINT (Kubernetes)
    ports: list[list[int]] | None = None  # [[port, target port]]: [] clears them


def _text_field(raw: dict[str, Any], key: str, limit: int) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise InvalidParams(
            f"{key} must be a string of at most {limit} characters without NUL bytes."
        )
    return value


def _int_field(raw: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):  # the Heroku CLI sends "2"
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParams(
            f"{key} must be a whole number from {low} to {high}, got {_shown(value)}."
        )
    return value


def _shown(value: object) -> str:
    """``repr(value)`` cut to a readable length (an int of 5000 digits has no repr)."""
    try:
        shown = repr(value)
    except ValueError:
        return "a number too long to show"
    return shown if len(shown) <= 60 else shown[:57] + "..."


def parse_update(raw: object) -> Update:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise InvalidParams("Each formation update is an object with a process `type`.")
    size = raw.get("size")
    if isinstance(size, str):  # Heroku spells sizes Standard-1X, Basic
        size = size.lower()
    if size is not None and not (isinstance(size, str) and size in DYNO_SIZES):
        raise InvalidParams(
            f"Unknown dyno size {_shown(size)}; choose one of {', '.join(DYNO_SIZES)}."
        )
    image = raw.get("docker_image")
    if image is not None and not (isinstance(image, str) and image.startswith("sha256:")):
        raise InvalidParams("docker_image must be an image id of the form sha256:<hex>.")
    check_path = _text_field(raw, "check_path", MAX_CHECK_PATH_CHARS)
    if check_path:
        validate_check_path(check_path, "check_path")
    command = _text_field(raw, "command", MAX_COMMAND_CHARS)
    if command:
        validate_command(command, "command")
    quantity = _int_field(raw, "quantity", 0, MAX_QUANTITY)
    if raw["type"] == "release" and quantity:
        raise InvalidParams("The release process runs once per release; it cannot be scaled.")
    return Update(
        type=validate_process_type(raw["type"]),
        quantity=quantity,
        size=size,
        port=_int_field(raw, "port", 1, 65535),
        docker_image=image,
        command=command,
        check_path=check_path,
        boot_timeout=_int_field(raw, "boot_timeout", 1, 3600),
        replaces_entrypoint=_bool_field(raw, "replaces_entrypoint"),
        ports=_ports_field(raw),
    )


MAX_PORTS = 20


def _ports_field(raw: dict[str, Any]) -> list[list[int]] | None:
    """``[{"port": 80, "target_port": 8080}]``: callers in the group use the port, the
    process listens on the target port (TCP)."""
    value = raw.get("ports")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_PORTS:
        raise InvalidParams(
            f'ports is a list of at most {MAX_PORTS} {{"port": 80, "target_port": 8080}}.'
        )
    out: list[list[int]] = []
    for item in value:
        if not isinstance(item, dict):
            raise InvalidParams('Each of ports is {"port": 80, "target_port": 8080}.')
        port, target = _int_field(item, "port", 1, 65535), _int_field(item, "target_port", 1, 65535)
        if port is None or any(p == port for p, _ in out):
            raise InvalidParams(f"Each of ports needs its own port; got {_shown(item)}.")
        out.append([port, target or port])
    return out


def _bool_field(raw: dict[str, Any], key: str) -> bool | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidParams(f"{key} is true or false.")
    return value


def get(app: App, process_type: str) -> Formation:
    for f in app.formations:
        if f.type == process_type:
            return f
    raise NotFound(
        f"Couldn't find that process type ({process_type}) for {app.name}. "
        "Push and release an image for it first: `moor container:push "
        f"{process_type} -a {app.name}` then `moor container:release {process_type} -a {app.name}`."
    )


def _ensure(session: Session, app: App, process_type: str) -> Formation:
    for f in app.formations:
        if f.type == process_type:
            return f
    f = Formation(app_id=app.id, type=process_type, quantity=1 if process_type == "web" else 0)
    app.formations.append(f)
    session.flush()
    return f


def batch_update(
    session: Session,
    app: App,
    user: User,
    updates: list[Update],
    registry: RegistryClient,
    copied: dict[str, tuple[str, str]] | None = None,
) -> Release | None:
    """Apply all updates or none; returns the new release when images changed.
    ``copied``: prebuilt images the platform copied, by process type: (reference in the
    platform's registry, where it came from)."""
    images: dict[str, str] = {}
    for u in updates:
        if u.docker_image is None:
            if u.quantity is not None or u.size is not None:
                get(app, u.type)  # unknown process types fail before anything changes
            continue
        if copied and u.type in copied:
            images[u.type] = copied[u.type][0]
            continue
        pushed = registry.latest(app.name, u.type)
        if u.docker_image not in (pushed.config_digest, pushed.manifest_digest):
            raise InvalidParams(
                f"Image {u.docker_image[:19]} is not the latest pushed for {u.type} "
                f"(the registry has {pushed.config_digest[:19]}). Run `moor container:push "
                f"{u.type} -a {app.name}` again."
            )
        images[u.type] = registry.reference(pushed)
    current = releases.current(session, app)
    changed = {t: ref for t, ref in images.items() if not current or current.images.get(t) != ref}
    release_command = next((u.command for u in updates if u.type == "release"), None)
    for u in updates:
        if u.type != "release":
            _apply_one(session, app, u)
    phase_changed = release_command is not None and (
        current is None or (current.release_command or "") != release_command
    )
    if not changed and not phase_changed:
        return None
    short = ", ".join(f"{t} ({ref.rsplit(':', 1)[-1][:12]})" for t, ref in sorted(changed.items()))
    what = f"Deployed {short}" if changed else "Set the release command"
    return releases.create(
        session,
        app,
        user,
        what,
        images=changed,
        release_command=release_command,
        sources={t: src for t, (_, src) in (copied or {}).items() if t in changed},
    )


def _apply_one(session: Session, app: App, u: Update) -> None:
    declares = u.docker_image is not None or (
        u.quantity is None and (u.port is not None or u.command is not None)
    )
    f = _ensure(session, app, u.type) if declares else get(app, u.type)
    if u.quantity is not None:
        volumes.refuse_scale(app, f, u.quantity)
    f.quantity = f.quantity if u.quantity is None else u.quantity
    f.size = u.size or f.size
    f.port = u.port or f.port
    if u.command is not None:
        f.command = u.command or None
    if u.check_path is not None:
        f.check_path = u.check_path or None
    if u.boot_timeout is not None:
        f.boot_timeout = u.boot_timeout
    if u.replaces_entrypoint is not None:
        f.replaces_entrypoint = u.replaces_entrypoint
    if u.ports is not None:
        f.ports = u.ports


def view(f: Formation) -> shapes.Formation:
    """Heroku's ``formation`` of one process type, with Moorage's port and check fields."""
    return shapes.Formation(
        id=f.id,
        app=Ref.of(f.app),
        type=f.type,
        quantity=f.quantity,
        size=f.size,
        dyno_size=Ref(id=f.size, name=f.size),
        command=f.command or "",
        port=f.port,
        check_path=f.check_path,
        boot_timeout=f.boot_timeout,
        replaces_entrypoint=f.replaces_entrypoint,
        ports=[shapes.ServicePort(port=p, target_port=t) for p, t in (f.ports or [])],
        created_at=f.created_at,
        updated_at=f.updated_at,
    )


def describe_scale(app: App) -> str:
    """``web@3:basic worker@1:standard-1x`` as Heroku's "Scaled to" line shows it."""
    return " ".join(f"{f.type}@{f.quantity}:{f.size}" for f in app.formations)


def apply_updates(
    platform: Platform,
    user: User,
    ident: str,
    raw: list[Any],
    copied: dict[str, tuple[str, str]] | None = None,
) -> list[shapes.Formation]:
    """Formation updates (and a release when images change), after the commit the release
    announced, the scale logged and the reconciler woken. ``raw``: updates as JSON objects
    (each checked by :func:`parse_update`); ``copied``: see :func:`batch_update`."""
    updates = [parse_update(u) for u in raw]
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        before = describe_scale(app)
        created = batch_update(s, app, user, updates, platform.registry, copied)
        touched = {u.type for u in updates}
        out = [view(f) for f in app.formations if f.type in touched]
        after, name = describe_scale(app), app.name
        rel = releases.view(created, created.version) if created else None
    if rel is not None:
        announce(platform, rel, user)
    if after != before:
        platform.emit(name, "api", f"Scaled to {after} by user {user.email}")
    converge(platform)
    return out
