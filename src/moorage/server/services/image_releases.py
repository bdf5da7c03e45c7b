"""Releases from image references (``container:release --image``) and the registry
credentials an app pulls them with (``registry:login``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import InvalidParams, NotFound
from moorage.registry.skopeo import Login
from moorage.schemas import images as shapes
from moorage.schemas.base import Ref
from moorage.schemas.releases import ReleaseVersion
from moorage.server.services.formation import parse_update
from moorage.server.store.models import App, ImageRelease, RegistryLogin, User
from moorage.spec.imageref import parse
from moorage.spec.names import validate_dns_label
from moorage.spec.status import ProofStatus

MAX_UPDATES = 20


def parse_updates(raw: object) -> list[dict[str, Any]]:
    """Formation updates, some with ``"image": "<reference>"`` instead of a pushed
    ``docker_image``; every one checked now, so a bad one changes nothing."""
    if not isinstance(raw, list) or not raw or len(raw) > MAX_UPDATES:
        raise InvalidParams(
            'Send {"updates": [{"type": "web", "image": "ghcr.io/org/app:1.2"}, ...]} '
            f"(1 to {MAX_UPDATES} updates)."
        )
    out: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidParams("Each update is an object with a process `type`.")
        update = {k: v for k, v in item.items() if k != "image"}
        parsed = parse_update(update)
        image = item.get("image")
        if image is not None:
            if not isinstance(image, str):
                raise InvalidParams('"image" is an image reference such as redis:7.')
            if parsed.docker_image is not None:
                raise InvalidParams(
                    f"{parsed.type}: give either image (a reference to copy) or docker_image "
                    "(a pushed image), not both."
                )
            update["image"] = str(parse(image))
        update["type"] = parsed.type
        out.append(update)
    _one_image_per_type(out)
    if not any("image" in u for u in out):
        raise InvalidParams("Name at least one image to release, as image: <reference>.")
    return out


def _one_image_per_type(updates: list[dict[str, Any]]) -> None:
    given: dict[str, str] = {}
    for u in updates:
        kind = "image" if "image" in u else "docker_image" if "docker_image" in u else ""
        if not kind:
            continue
        if u["type"] in given:
            raise InvalidParams(
                f"{u['type']} is given two images ({given[u['type']]} and {kind}); release "
                "each process type from one: a pushed image or --image, not both."
            )
        given[u["type"]] = kind


def create(session: Session, app: App, user: User, updates: list[dict[str, Any]]) -> ImageRelease:
    job = ImageRelease(app_id=app.id, user_id=user.id, updates=updates, status=ProofStatus.PENDING)
    session.add(job)
    session.flush()
    return job


def get(session: Session, app: App, ident: str) -> ImageRelease:
    job = session.get(ImageRelease, ident)
    if job is None or job.app_id != app.id:
        raise NotFound(f"{app.name} has no image release {ident}.")
    return job


def view(job: ImageRelease, app: App, output: list[str]) -> shapes.ImageRelease:
    """The job as the API shows it; ``output``: its progress lines so far."""
    return shapes.ImageRelease(
        id=job.id,
        app=Ref.of(app),
        status=ProofStatus(job.status),
        message=job.message or None,
        images=[
            shapes.ImageSource(type=u["type"], image=u["image"])
            for u in job.updates
            if "image" in u
        ],
        release=ReleaseVersion(version=job.release_version) if job.release_version else None,
        output=output,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


# -- registry credentials -------------------------------------------------------------------


def registry_host(text: str) -> str:
    """``ghcr.io``, ``registry.example.com:5000``: a host and optional port, lowercase."""
    host = text.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    name, _, port = host.partition(":")
    validate_dns_label(name, "Registry host", dots=True)
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise InvalidParams(f"{text!r} is not a registry host such as ghcr.io or host:5000.")
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def set_login(session: Session, app: App, host: str, username: str, password: str) -> RegistryLogin:
    if not username or not password or len(username) > 255 or len(password) > 4096:
        raise InvalidParams("Send a username and a password (or token) for the registry.")
    row = session.scalar(
        select(RegistryLogin).where(RegistryLogin.app_id == app.id, RegistryLogin.host == host)
    )
    if row is None:
        row = RegistryLogin(app_id=app.id, host=host, username=username, password=password)
        session.add(row)
    else:
        row.username, row.password = username, password
    session.flush()
    return row


def remove_login(session: Session, app: App, host: str) -> None:
    row = session.scalar(
        select(RegistryLogin).where(RegistryLogin.app_id == app.id, RegistryLogin.host == host)
    )
    if row is None:
        raise NotFound(
            f"{app.name} has no credentials for {host}. See `moor registry -a {app.name}`."
        )
    session.delete(row)
    session.flush()


def view_login(row: RegistryLogin) -> shapes.RegistryLogin:
    """Host and user only: the password is never sent back."""
    return shapes.RegistryLogin(
        host=row.host, username=row.username, updated_at=row.updated_at.isoformat()
    )


def list_logins(session: Session, app: App) -> list[RegistryLogin]:
    return list(
        session.scalars(
            select(RegistryLogin).where(RegistryLogin.app_id == app.id).order_by(RegistryLogin.host)
        )
    )


def logins(session: Session, app: App) -> dict[str, Login]:
    """The app's credentials by host, for the copy (the only place passwords are read)."""
    return {r.host: Login(r.host, r.username, r.password) for r in list_logins(session, app)}
