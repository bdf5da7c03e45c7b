"""Formation: quantities, sizes and ports per process type; image updates make releases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from moorage.errors import InvalidParams, NotFound
from moorage.registry.client import RegistryClient
from moorage.server.services import releases
from moorage.server.store.models import App, Formation, Release, User
from moorage.spec.dyno import DYNO_SIZES
from moorage.spec.names import validate_process_type

MAX_QUANTITY = 100


@dataclass(frozen=True)
class Update:
    type: str
    quantity: int | None = None
    size: str | None = None
    port: int | None = None
    docker_image: str | None = None


def _int_field(raw: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParams(f"{key} must be a whole number from {low} to {high}, got {value!r}.")
    return value


def parse_update(raw: object) -> Update:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise InvalidParams("Each formation update is an object with a process `type`.")
    size = raw.get("size")
    if size is not None and size not in DYNO_SIZES:
        raise InvalidParams(f"Unknown dyno size {size!r}; choose one of {', '.join(DYNO_SIZES)}.")
    image = raw.get("docker_image")
    if image is not None and not (isinstance(image, str) and image.startswith("sha256:")):
        raise InvalidParams("docker_image must be an image id of the form sha256:<hex>.")
    return Update(
        type=validate_process_type(raw["type"]),
        quantity=_int_field(raw, "quantity", 0, MAX_QUANTITY),
        size=size,
        port=_int_field(raw, "port", 1, 65535),
        docker_image=image,
    )


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
    session: Session, app: App, user: User, updates: list[Update], registry: RegistryClient
) -> Release | None:
    """Apply all updates or none; returns the new release when images changed."""
    images: dict[str, str] = {}
    for u in updates:
        if u.docker_image is None:
            if u.quantity is not None or u.size is not None:
                get(app, u.type)  # unknown process types fail before anything changes
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
    for u in updates:
        declares = u.docker_image is not None or (u.port is not None and u.quantity is None)
        f = _ensure(session, app, u.type) if declares else get(app, u.type)
        f.quantity = f.quantity if u.quantity is None else u.quantity
        f.size = u.size or f.size
        f.port = u.port or f.port
    if not changed:
        return None
    short = ", ".join(f"{t} ({ref.rsplit(':', 1)[-1][:12]})" for t, ref in sorted(changed.items()))
    return releases.create(session, app, user, f"Deployed {short}", images=changed)
