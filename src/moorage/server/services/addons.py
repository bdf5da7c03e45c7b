"""Add-ons: provision through a provider, attach its URL to apps, rotate, destroy.

Every change to an app's config var makes a release for that app, so the reconciler rolls
its dynos with the new URL the zero-downtime way.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from moorage.addons.base import Provider
from moorage.errors import Conflict, InvalidParams, NotFound
from moorage.schemas import addons as schema
from moorage.schemas.base import Ref
from moorage.server.services import databases, releases
from moorage.server.store.models import Addon, AddonAttachment, App, Release, User

ALIASES = {"heroku-postgresql": "postgresql", "postgres": "postgresql", "heroku-redis": "redis"}
ATTACHMENT_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,40}$")
ADDON_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{2,58}$")
FREE = schema.Price(cents=0, unit="month")  # self-hosted: no per-add-on price
log = logging.getLogger(__name__)


def view(ad: Addon) -> schema.Addon:
    """The add-on as the API shows it (Heroku's ``add-on``)."""
    return schema.Addon(
        id=ad.id,
        name=ad.name,
        app=Ref.of(ad.app),
        addon_service=Ref(id=ad.service, name=ad.service),
        plan=schema.Plan(id=ad.plan, name=ad.plan, price=FREE),
        config_vars=sorted(a.config_var for a in ad.attachments if a.app_id == ad.app_id),
        state="provisioned",
        created_at=ad.created_at,
        updated_at=ad.updated_at,
        provider_id=ad.resource,
        billed_price=schema.BilledPrice(**FREE.model_dump(), contract=False),
        moorage=schema.AddonExtension(
            attachments=[
                schema.AttachedTo(app=a.app.name, name=a.name, config_var=a.config_var)
                for a in ad.attachments
            ],
            credentials_retiring=len(ad.retiring),
            backup_schedule=(
                schema.BackupSchedule.model_validate(ad.backup_schedule)
                if ad.backup_schedule
                else None
            ),
        ),
    )


def view_attachment(att: AddonAttachment) -> schema.Attachment:
    """The attachment as the API shows it (Heroku's ``add-on-attachment``)."""
    ad = att.addon
    return schema.Attachment(
        id=att.id,
        name=att.name,
        addon=schema.AddonRef(id=ad.id, name=ad.name, app=Ref.of(ad.app)),
        app=Ref.of(att.app),
        created_at=att.created_at,
        updated_at=att.updated_at,
    )


def resolve_service(plan: str, providers: dict[str, Provider]) -> Provider:
    service = plan.split(":", 1)[0]
    service = ALIASES.get(service, service)
    if service not in providers:
        raise InvalidParams(
            f"Unknown add-on plan {plan!r}. Available: {', '.join(sorted(providers))}."
        )
    return providers[service]


def attachment_name(raw: str | None, default: str) -> str:
    """``--as backup_db`` -> ``BACKUP_DB`` (the config var is ``BACKUP_DB_URL``)."""
    name = (raw or default).upper().removesuffix("_URL")
    if not ATTACHMENT_RE.fullmatch(name):
        raise InvalidParams(
            f"{raw!r} is not a valid attachment name: use letters, digits and underscores, "
            "starting with a letter (the config var becomes NAME_URL)."
        )
    return name


def get(session: Session, user: User, ident: str) -> Addon:
    """The add-on named or identified by ``ident`` (or ``APP::ATTACHMENT``, as Heroku
    writes it) if ``user`` owns its app, else NotFound (naming ``ident`` as given: another
    user's add-on answers exactly like a missing one)."""
    key = ident
    if "::" in ident:
        app_name, _, att_name = ident.partition("::")
        att = session.scalar(
            select(AddonAttachment)
            .join(App, AddonAttachment.app_id == App.id)
            .where(App.name == app_name, AddonAttachment.name == att_name.upper())
        )
        key = att.addon.id if att is not None else ident
    addon = session.scalar(select(Addon).where(or_(Addon.name == key, Addon.id == key)))
    if addon is None or addon.app.owner_id != user.id:
        raise NotFound(f"Couldn't find that add-on: {ident}. See `moor addons -a APP`.")
    return addon


def on_app(session: Session, app: App, ident: str) -> Addon:
    """An add-on attached to ``app`` by add-on name, id or attachment name (``DATABASE``),
    or one ``app`` owns, by name or id."""
    for att in attachments_of(session, app):
        if ident in (att.addon.name, att.addon.id, att.name, att.config_var):
            return att.addon
    for addon in app.addons:  # its own, attached nowhere (kept after pg:promote)
        if ident in (addon.name, addon.id):
            return addon
    raise NotFound(f"{app.name} has no add-on {ident}. See `moor addons -a {app.name}`.")


def listed(session: Session, app: App) -> list[Addon]:
    """What ``addons -a APP`` shows: every add-on attached to ``app``, then those it owns
    that are attached nowhere (a primary replaced by ``pg:promote`` is kept detached)."""
    shown = [att.addon for att in attachments_of(session, app)]
    ids = {a.id for a in shown}
    return [*dict.fromkeys(shown), *(a for a in app.addons if a.id not in ids)]


def attachments_of(session: Session, app: App) -> list[AddonAttachment]:
    return list(
        session.scalars(
            select(AddonAttachment)
            .where(AddonAttachment.app_id == app.id)
            .order_by(AddonAttachment.created_at, AddonAttachment.name)
        )
    )


def _set_var(
    session: Session, app: App, user: User, key: str, value: str | None, description: str
) -> Release:
    config = dict(app.config)
    if value is None:
        config.pop(key, None)
    else:
        config[key] = value
    app.config = config
    session.flush()
    return releases.create(session, app, user, description)


def create(
    session: Session,
    app: App,
    user: User,
    plan: str,
    providers: dict[str, Provider],
    *,
    as_name: str | None = None,
    name: str | None = None,
    config: dict[str, object] | None = None,
) -> tuple[Addon, Release]:
    """Provision an add-on owned by ``app`` and attach it as ``<as_name>_URL``; ``config``
    makes a database from another (``--fork``, ``--rollback``, ``--follow``)."""
    provider = resolve_service(plan, providers)
    full_plan = provider.plan_name(plan)
    made_from = databases.origin(session, app, user, provider, config or {})
    default = databases.color(session, app) if made_from else provider.attachment
    att_name = attachment_name(as_name, default)
    check_free(session, app, att_name)
    suffix = secrets.token_hex(4)
    if name is not None:
        if not ADDON_NAME_RE.fullmatch(name):
            raise InvalidParams(
                f"{name!r} is not a valid add-on name: 3-59 lowercase letters, digits, dashes."
            )
        if session.scalar(select(Addon).where(Addon.name == name)) is not None:
            raise Conflict(f"An add-on named {name} already exists; pick another --name.")
    # an opaque name: every tenant's database and role names are in the shared cluster
    resource = f"d{secrets.token_hex(8)}"
    if made_from is None:
        url = provider.provision(resource, full_plan)
    else:
        url = databases.provision(provider, resource, full_plan, made_from)
    _undo_on_rollback(session, provider, resource)
    addon = Addon(
        app_id=app.id,
        name=name or f"{provider.service}-{app.name}-{suffix}",
        service=provider.service,
        plan=full_plan,
        resource=resource,
        url=url,
        follows_id=made_from.source.id if made_from and made_from.kind == "follow" else None,
    )
    app.addons.append(addon)
    session.flush()
    session.add(AddonAttachment(addon_id=addon.id, app_id=app.id, name=att_name))
    release = _set_var(
        session, app, user, f"{att_name}_URL", url, f"Attach {att_name} ({addon.name})"
    )
    return addon, release


_PENDING, _HOOKED = "moorage.provisioned", "moorage.provision_hooks"  # keys of session.info


def _undo_on_rollback(session: Session, provider: Provider, resource: str) -> None:
    """Deprovision ``resource`` if ``session``'s transaction rolls back: its row is gone
    then (a review app's second add-on failed, the store refused the commit), and the
    database or Redis made for it would stay on the shared server, unlisted."""
    pending: list[tuple[Provider, str]] = session.info.setdefault(_PENDING, [])
    if not session.info.get(_HOOKED):  # listeners once per session
        event.listen(session, "after_commit", _forget_pending)
        event.listen(session, "after_rollback", _deprovision_pending)
        session.info[_HOOKED] = True
    pending.append((provider, resource))


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _deprovision_pending(session: Session) -> None:
    for provider, resource in session.info.pop(_PENDING, []):
        try:
            provider.deprovision(resource)
        except Exception:  # the failure being rolled back is the one to report
            log.exception("cannot remove %s, made for a change that was rolled back", resource)


def check_free(session: Session, app: App, att_name: str) -> None:
    for att in attachments_of(session, app):
        if att.name == att_name:
            raise Conflict(
                f"{app.name} already has {att_name}_URL from {att.addon.name}; "
                "attach under another name with --as NAME."
            )


def attach(
    session: Session, addon: Addon, app: App, user: User, as_name: str | None, default: str
) -> tuple[AddonAttachment, Release]:
    """Put ``addon``'s URL into ``app``'s config as ``<as_name>_URL`` (a new release)."""
    att_name = attachment_name(as_name, default)
    if any(a.app_id == app.id for a in addon.attachments):
        raise Conflict(f"{addon.name} is already attached to {app.name}.")
    check_free(session, app, att_name)
    att = AddonAttachment(addon_id=addon.id, app_id=app.id, name=att_name)
    session.add(att)
    session.flush()
    release = _set_var(
        session, app, user, att.config_var, addon.url, f"Attach {att_name} ({addon.name})"
    )
    return att, release


def attachment_on(addon: Addon, app: App, ident: str = "") -> AddonAttachment:
    """``addon``'s attachment on ``app``: the one named ``ident`` if there is one (an add-on
    attached twice: ``DATABASE`` and ``DATABASE_CONNECTION_POOL``), else the first."""
    mine = [a for a in addon.attachments if a.app_id == app.id]
    named = [a for a in mine if ident in (a.name, a.config_var)]
    if not mine:
        raise NotFound(f"{addon.name} is not attached to {app.name}.")
    return (named or mine)[0]


def detach(
    session: Session,
    addon: Addon,
    app: App,
    user: User,
    ident: str = "",
    providers: dict[str, Provider] | None = None,
) -> Release:
    """Remove ``addon``'s config var from ``app`` (not its owner: destroy it instead; but
    its owner may detach a connection pool, which then stops)."""
    att = attachment_on(addon, app, ident)
    if addon.app_id == app.id and not att.pooled:
        raise Conflict(
            f"{app.name} owns {addon.name}; remove it with "
            f"`moor addons:destroy {addon.name} -a {app.name} --confirm {app.name}`."
        )
    var = att.config_var
    addon.attachments.remove(att)  # delete-orphan removes the row
    session.flush()
    if att.pooled and not any(a.pooled for a in addon.attachments):
        if providers is not None:
            databases.postgres(providers).unpool(addon.resource)
        addon.pool_port = None
    return _set_var(session, app, user, var, None, f"Detach {att.name} ({addon.name})")


def destroy(
    session: Session, addon: Addon, user: User, providers: dict[str, Provider], *, force: bool
) -> list[Release]:
    """Deprovision ``addon`` and remove its config vars; refused while others use it."""
    others = sorted({a.app.name for a in addon.attachments if a.app_id != addon.app_id})
    if others and not force:
        raise Conflict(
            f"{addon.name} is attached to {', '.join(others)} too; detach it there first "
            f"(`moor addons:detach {addon.name} -a APP`) or destroy it with --force."
        )
    following = databases.followers(session, addon)
    if following:
        raise Conflict(
            f"{addon.name} is followed by {', '.join(f.name for f in following)}: run "
            "`moor pg:unfollow` on them or destroy them first."
        )
    made = []
    for att in list(addon.attachments):
        var, app = att.config_var, att.app
        addon.attachments.remove(att)
        session.flush()
        made.append(_set_var(session, app, user, var, None, f"Detach {att.name} ({addon.name})"))
    if addon.service in providers:
        providers[addon.service].deprovision(addon.resource)
    addon.app.addons.remove(addon)  # delete-orphan deletes it; the app's list is current
    session.flush()
    return made


def destroy_all(session: Session, app: App, user: User, providers: dict[str, Provider]) -> None:
    """Deprovision the add-ons ``app`` owns (it is being deleted), detaching them elsewhere."""
    for addon in sorted(app.addons, key=lambda a: a.follows_id is None):  # followers first
        destroy(session, addon, user, providers, force=True)


def rotate(
    session: Session, addon: Addon, user: User, providers: dict[str, Provider]
) -> list[Release]:
    """New credentials in every attached app (releases); the old ones retire later."""
    provider = providers[addon.service]
    old = addon.url
    addon.url = provider.rotate(addon.resource, old)
    addon.retiring = sorted({*addon.retiring, old} - {addon.url})
    for follower in databases.followers(session, addon):  # they replay the leader's roles
        follower.url = databases.follower_url(addon.url, follower.url)
    return [
        _set_var(
            session,
            att.app,
            user,
            att.config_var,
            att.value,
            f"Update {att.name} by {ad.service} (credentials rotated)",
        )
        for ad in (addon, *databases.followers(session, addon))
        for att in ad.attachments
    ]


def finish_rotations(
    session: Session, providers: dict[str, Provider], settled: Callable[[App], bool]
) -> list[tuple[str, str]]:
    """Retire old credentials of add-ons whose attached apps all run the new URL.

    ``settled(app)`` says whether the app's current release is live with no older dyno left.
    Returns (add-on, app) for every attachment of the add-ons whose old credentials retired.
    """
    done: list[tuple[str, str]] = []
    for addon in session.scalars(select(Addon)):
        if not addon.retiring or addon.service not in providers:
            continue
        using = [(ad, att) for ad in (addon, *databases.followers(session, addon))
                 for att in ad.attachments]  # fmt: skip
        current = all(att.app.config.get(att.config_var) == att.value for _, att in using)
        if current and all(settled(att.app) for _, att in using):
            providers[addon.service].retire(addon.resource, addon.url)
            addon.retiring = []
            done += [(addon.name, att.app.name) for att in addon.attachments]
    return done
