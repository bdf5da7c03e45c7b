"""Add-ons (``/apps/{app}/addons``) and their attachments (``/addon-attachments``), in
Heroku's ``add-on`` and ``add-on-attachment`` shapes, with Moorage's part under ``moorage``."""

from __future__ import annotations

from pydantic import StrictBool

from moorage.schemas.base import Body, Ref, Resource, Timestamp


class Price(Resource):
    cents: int
    unit: str


class BilledPrice(Price):
    contract: bool


class Plan(Resource):
    """The add-on's plan (``postgresql:mini``, ``postgresql:standard-0``); self-hosted, so free."""

    id: str
    name: str
    price: Price


class AddonAction(Resource):
    """A provider action (Heroku's ``actions``); Moorage's add-ons have none."""

    id: str
    label: str
    action: str
    url: str
    requires_owner: bool


class AttachedTo(Resource):
    """Where the add-on is attached: the app, the attachment's name and its config var."""

    app: str
    name: str
    config_var: str


class BackupSchedule(Resource):
    """``pg:backups:schedule``: daily at ``at`` (``02:00``) in ``tz``, keeping ``keep``."""

    at: str
    tz: str
    keep: int
    since: str


class AddonExtension(Resource):
    """Moorage's part of an add-on: every attachment, old credentials not yet retired, and
    the daily backup schedule (postgresql)."""

    attachments: list[AttachedTo] = []
    credentials_retiring: int = 0
    backup_schedule: BackupSchedule | None = None


class Addon(Resource):
    """Heroku's ``add-on``; ``config_vars`` are those it sets in its owning app."""

    id: str
    name: str
    app: Ref
    addon_service: Ref
    plan: Plan
    config_vars: list[str]
    state: str
    created_at: Timestamp
    updated_at: Timestamp
    provider_id: str
    web_url: str | None = None
    billed_price: BilledPrice
    actions: list[AddonAction] = []
    moorage: AddonExtension = AddonExtension()


class AddonRef(Ref):
    """An add-on as an attachment names it: with the app that owns it."""

    app: Ref


class Attachment(Resource):
    """Heroku's ``add-on-attachment``: ``name`` is the config var without ``_URL``."""

    id: str
    name: str
    addon: AddonRef
    app: Ref
    created_at: Timestamp
    updated_at: Timestamp
    web_url: str | None = None
    log_input_url: str | None = None
    namespace: str | None = None


class Named(Body):
    """``{"name": ...}`` or ``{"id": ...}``: how Heroku's clients may name a plan, an add-on
    or an app instead of a plain string."""

    name: str | None = None
    id: str | None = None

    def ident(self) -> str | None:
        return self.name or self.id


def name_of(value: str | Named | None) -> str | None:
    """A string as given, or the name (else the id) of a :class:`Named`."""
    return value.ident() if isinstance(value, Named) else value


class AttachmentName(Body):
    name: str | None = None


class AddonCreate(Body):
    """``addons:create``: the plan, the initial attachment's name (``--as``) and the
    add-on's own name (``--name``)."""

    hint = 'Send {"plan": "postgresql"} (or "redis").'
    plan: str | Named
    attachment: AttachmentName | None = None
    name: str | None = None
    config: dict[str, str | bool] | None = None
    """Heroku's provider options: ``fork``, ``follow``, ``rollback`` with ``to`` or ``by``."""
    confirm: str | None = None


class AttachmentCreate(Body):
    """``addons:attach``: attach ``addon`` to ``app`` as ``NAME_URL``."""

    hint = 'Send {"addon": "ADDON", "app": "APP", "name": "NAME"}.'
    addon: str | Named
    app: str | Named
    name: str | None = None


class PsqlRequest(Body):
    """``pg:psql``: ``command`` runs one statement; ``tty`` false reads SQL from stdin."""

    hint = 'Send {"command": "SELECT 1"}, or {"tty": false} to pipe SQL in, or nothing.'
    command: str | None = None
    tty: StrictBool = True
