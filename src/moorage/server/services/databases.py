"""PostgreSQL add-ons made from another one (``--fork``, ``--rollback``, ``--follow``), and
``pg:promote`` / ``pg:unfollow``.

The options come as Heroku's CLI sends them: the add-on body's ``config``
(``{"fork": "DATABASE_URL"}``, ``{"rollback": "DATABASE", "to": "2026-12-06 10:42+00"}``,
``{"rollback": "DATABASE", "by": "3 hours"}``, ``{"follow": "DATABASE"}``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.addons.base import Provider
from moorage.addons.postgres.continuity import parse_by, parse_to
from moorage.addons.postgres.provider import PostgresProvider
from moorage.errors import Conflict, InvalidParams, NotFound
from moorage.server.services import releases
from moorage.server.store.models import Addon, AddonAttachment, App, Release, User
from moorage.spec.bytesizes import human_size
from moorage.spec.status import AddonService

OPTIONS = ("fork", "follow", "rollback", "to", "by")
COLORS = (
    "AMBER", "BLUE", "BRONZE", "CHARCOAL", "COBALT", "COPPER", "CRIMSON", "GOLD", "GRAY",
    "GREEN", "IVORY", "JADE", "MAROON", "NAVY", "OLIVE", "ONYX", "ORANGE", "PINK", "PURPLE",
    "RED", "SILVER", "TEAL", "WHITE", "YELLOW",
)  # fmt: skip
CAUGHT_UP = 1 << 20  # bytes a follower may be behind and still count as caught up
PROMOTE_WAIT = 10.0  # seconds pg:promote waits for a follower to catch up


@dataclass(frozen=True)
class Origin:
    """Where a new database's data comes from: ``kind`` of ``source`` (at ``to``)."""

    kind: str
    source: Addon
    to: datetime | None = None


def _text(config: dict[str, object], key: str) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidParams(f"--{key} needs a value (see `moor addons:create --help`).")
    return value.strip()


def origin(
    session: Session, app: App, user: User, provider: Provider, config: dict[str, object]
) -> Origin | None:
    """The origin that ``config`` asks for, checked; None for a plain new add-on."""
    if not config:
        return None
    unknown = sorted(set(config) - set(OPTIONS))
    if provider.service != AddonService.POSTGRESQL or unknown:
        raise InvalidParams(
            f"Unknown option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join('--' + k for k in unknown or sorted(config))} for {provider.service}. "
            "postgresql takes --fork DB, --follow DB, or --rollback DB with --to TIME or --by "
            "DURATION."
        )
    kinds = [k for k in ("fork", "follow", "rollback") if k in config]
    if len(kinds) != 1:
        raise InvalidParams("Give one of --fork, --follow or --rollback (with --to or --by).")
    kind = kinds[0]
    source = _source(session, app, user, _text(config, kind) or "")
    to, by = _text(config, "to"), _text(config, "by")
    if kind != "rollback":
        if to or by:
            raise InvalidParams("--to and --by go with --rollback only.")
        return Origin(kind, source)
    if (to is None) == (by is None):
        raise InvalidParams("--rollback needs either --to TIME or --by DURATION.")
    moment = parse_to(to) if to else datetime.now(UTC) - timedelta(seconds=parse_by(by or ""))
    return Origin(kind, source, moment)


def _source(session: Session, app: App, user: User, ident: str) -> Addon:
    from moorage.server.services import addons

    try:
        found = addons.on_app(session, app, ident)
    except NotFound:
        found = addons.get(session, user, ident)
    if found.service != AddonService.POSTGRESQL:
        raise InvalidParams(f"{ident} is a {found.service} add-on, not a postgresql database.")
    return found


def color(session: Session, app: App) -> str:
    """The first free ``HEROKU_POSTGRESQL_<COLOR>`` attachment name on ``app``."""
    used = set(
        session.scalars(select(AddonAttachment.name).where(AddonAttachment.app_id == app.id))
    )
    for c in COLORS:
        if f"HEROKU_POSTGRESQL_{c}" not in used:
            return f"HEROKU_POSTGRESQL_{c}"
    raise Conflict(f"{app.name} has a database of every color; name this one with --as NAME.")


def postgres(providers: dict[str, Provider]) -> PostgresProvider:
    provider = providers.get(AddonService.POSTGRESQL)
    if not isinstance(provider, PostgresProvider):
        raise InvalidParams("PostgreSQL add-ons are not available on this platform.")
    return provider


def provision(provider: Provider, resource: str, plan: str, made_from: Origin) -> str:
    """The new database's URL, made from ``made_from`` (which stays untouched)."""
    pg = postgres({provider.service: provider})
    src = made_from.source
    if made_from.kind == "follow":
        return pg.follow(resource, plan, src.resource, src.url)
    return pg.restore_from(resource, plan, src.resource, made_from.to)


def follower_url(leader_url: str, follower_url: str) -> str:
    """A follower's URL after its leader's credentials changed: the leader's user and
    password, the follower's host and port."""
    lead, mine = urlsplit(leader_url), urlsplit(follower_url)
    netloc = f"{lead.netloc.rsplit('@', 1)[0]}@{mine.netloc.rsplit('@', 1)[-1]}"
    return urlunsplit(mine._replace(netloc=netloc))


def followers(session: Session, addon: Addon) -> list[Addon]:
    return list(session.scalars(select(Addon).where(Addon.follows_id == addon.id)))


def lag_words(pg: PostgresProvider, resource: str) -> tuple[bool, str]:
    behind, seconds = pg.lag(resource)
    return behind <= CAUGHT_UP, f"{human_size(behind)} ({behind} bytes, {seconds:.1f} s)"


def _wait_caught_up(pg: PostgresProvider, follower: Addon, force: bool) -> None:
    deadline = time.monotonic() + PROMOTE_WAIT
    while True:
        ok, words = lag_words(pg, follower.resource)
        if ok or force:
            return
        if time.monotonic() > deadline:
            raise Conflict(
                f"{follower.name} is {words} behind its leader and did not catch up in "
                f"{PROMOTE_WAIT:.0f} s. Promoting now loses those writes: wait, or run "
                "again with --force."
            )
        time.sleep(0.5)


def unfollow(session: Session, follower: Addon, providers: dict[str, Provider]) -> None:
    """The follower stops following and takes writes; no app's config changes."""
    pg = postgres(providers)
    if follower.follows_id is None and pg.following(follower.resource) is None:
        raise Conflict(f"{follower.name} follows no database.")
    pg.promote(follower.resource)
    follower.follows_id = None


def promote(
    session: Session, follower: Addon, app: App, user: User, providers: dict[str, Provider],
    *, force: bool,
) -> Release:  # fmt: skip
    """``follower`` stops following (after catching up) and becomes ``app``'s
    DATABASE_URL in a new release; the database it replaces is detached and kept."""
    pg = postgres(providers)
    if follower.service != AddonService.POSTGRESQL:
        raise InvalidParams(f"{follower.name} is not a postgresql database.")
    if pg.following(follower.resource) is not None or follower.follows_id is not None:
        # the store still names a leader when a killed server left the promotion half
        # done (the cluster's record may already say it follows no one): pg.promote is
        # idempotent and finishes it, with the stanza and first base backup of its archive
        _wait_caught_up(pg, follower, force)
        pg.promote(follower.resource)
    follower.follows_id = None
    config = dict(app.config)
    old = session.scalar(
        select(AddonAttachment).where(
            AddonAttachment.app_id == app.id, AddonAttachment.name == "DATABASE"
        )
    )
    if old is not None and old.addon_id == follower.id:
        raise Conflict(f"{follower.name} is already {app.name}'s DATABASE.")
    if old is not None:
        old.addon.attachments.remove(old)
        session.flush()
    session.add(AddonAttachment(addon_id=follower.id, app_id=app.id, name="DATABASE"))
    config["DATABASE_URL"] = follower.url
    app.config = config
    session.flush()
    return releases.create(session, app, user, f"Promote {follower.name} to DATABASE")


def relations(session: Session, addon: Addon) -> dict[str, str]:
    """``pg:info`` lines naming add-ons: whom it follows, who follows it."""
    out: dict[str, str] = {}
    if addon.follows_id is not None:
        leader = session.get(Addon, addon.follows_id)
        out["Following"] = leader.name if leader is not None else "(removed)"
    mine = followers(session, addon)
    if mine:
        out["Followers"] = ", ".join(f.name for f in mine)
    return out


def attach_pool(
    session: Session,
    addon: Addon,
    app: App,
    user: User,
    providers: dict[str, Provider],
    as_name: str | None,
) -> tuple[AddonAttachment, Release]:
    """PgBouncer in front of ``addon`` (started once, shared by its pooled attachments) and
    its URL in ``app``'s config as ``<as_name>_URL`` (``DATABASE_CONNECTION_POOL_URL``)."""
    from moorage.server.services import addons

    if addon.service != AddonService.POSTGRESQL:
        raise InvalidParams(f"{addon.name} is not a postgresql database.")
    name = addons.attachment_name(as_name, "DATABASE_CONNECTION_POOL")
    addons.check_free(session, app, name)
    addon.pool_port = postgres(providers).pool(addon.resource)
    att = AddonAttachment(addon_id=addon.id, app_id=app.id, name=name, pooled=True)
    session.add(att)
    session.flush()
    session.refresh(att)
    config = dict(app.config)
    config[att.config_var] = att.value
    app.config = config
    session.flush()
    made = releases.create(session, app, user, f"Attach {name} (pooler of {addon.name})")
    return att, made
