"""Add-ons and attachments: list, create, info, facts, destroy, attach, detach, rotate
credentials, and ``pg:psql``'s one-off dyno."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.addons import (
    Addon,
    AddonCreate,
    Attachment,
    AttachmentCreate,
    AttachmentName,
    PsqlRequest,
)
from moorage.schemas.releases import Dyno, Release

_ADDONS = Shape(list[Addon])
_RELEASES = Shape(list[Release])

_ATTACHMENTS = Shape(list[Attachment])
_FACTS = Shape(dict[str, str])


def addon_path(app: str, addon: str) -> str:
    """``/apps/{app}/addons/{addon}``, each part quoted."""
    return path("/apps/{}/addons/{}", app, addon)


def addons(c: Client, app: str) -> list[Addon]:
    """The add-ons attached to ``app``: its own and other apps'."""
    return _ADDONS.validate_python(c.request("GET", path("/apps/{}/addons", app)))


def addon(c: Client, app: str, name: str) -> Addon:
    return Addon.model_validate(c.request("GET", addon_path(app, name)))


def facts(c: Client, app: str, name: str) -> dict[str, str]:
    """What the add-on's server reports (``pg:info``): label -> value."""
    return _FACTS.validate_python(c.request("GET", addon_path(app, name) + "/facts"))


def addon_create(
    c: Client,
    app: str,
    plan: str,
    *,
    as_name: str | None,
    name: str | None,
    config: dict[str, str | bool] | None = None,
) -> Addon:
    """``config``: Heroku's provider options (``fork``, ``follow``, ``rollback``, ``to``,
    ``by``); a database made from another one can take minutes, so this waits."""
    body = AddonCreate(
        plan=plan,
        attachment=AttachmentName(name=as_name) if as_name else None,
        name=name or None,
        config=config or None,
    )
    answer = c.request(
        "POST", path("/apps/{}/addons", app), body.model_dump(exclude_none=True), slow=True
    )
    return Addon.model_validate(answer)


def promote(c: Client, app: str, name: str, *, force: bool) -> Release:
    suffix = "?force=true" if force else ""
    answer = c.request("POST", addon_path(app, name) + "/actions/promote" + suffix, slow=True)
    return Release.model_validate(answer)


def connection_pooling(c: Client, app: str, name: str, as_name: str | None) -> Attachment:
    body = AttachmentName(name=as_name).model_dump(exclude_none=True) if as_name else None
    answer = c.request("POST", addon_path(app, name) + "/actions/connection-pooling", body)
    return Attachment.model_validate(answer)


def unfollow(c: Client, app: str, name: str) -> Addon:
    answer = c.request("POST", addon_path(app, name) + "/actions/unfollow", slow=True)
    return Addon.model_validate(answer)


def addon_destroy(c: Client, app: str, name: str, *, force: bool) -> Addon:
    suffix = "?force=true" if force else ""
    return Addon.model_validate(c.request("DELETE", addon_path(app, name) + suffix))


def attach(c: Client, addon: str, app: str, as_name: str | None) -> Attachment:
    body = AttachmentCreate(addon=addon, app=app, name=as_name or None)
    answer = c.request("POST", "/addon-attachments", body.model_dump(exclude_none=True))
    return Attachment.model_validate(answer)


def attachments(c: Client, app: str) -> list[Attachment]:
    """The add-ons attached to ``app`` (its own and other apps')."""
    answer = c.request("GET", path("/apps/{}/addon-attachments", app))
    return _ATTACHMENTS.validate_python(answer)


def detach(c: Client, app: str, addon: str) -> Attachment:
    answer = c.request("DELETE", path("/apps/{}/addon-attachments/{}", app, addon))
    return Attachment.model_validate(answer)


def rotate_credentials(c: Client, app: str, name: str) -> list[Release]:
    """New credentials: the releases made in every attached app."""
    answer = c.request("POST", addon_path(app, name) + "/actions/rotate-credentials")
    return _RELEASES.validate_python(answer)


def psql(c: Client, app: str, name: str, *, command: str | None, tty: bool) -> Dyno:
    """A one-off dyno running psql against the add-on, to attach to (its ``attach_url``):
    ``command`` runs one statement; else ``tty`` says whether a terminal is wanted."""
    body = PsqlRequest(command=command) if command else PsqlRequest(tty=tty)
    answer = c.request(
        "POST", addon_path(app, name) + "/actions/psql", body.model_dump(exclude_unset=True)
    )
    return Dyno.model_validate(answer)
