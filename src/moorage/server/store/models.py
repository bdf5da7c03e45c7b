"""The state store's tables (SQLAlchemy 2 declarative). Schema changes go through Alembic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from moorage.server.store.sealed import SealedJSON, SealedText


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    """With microseconds, so rows made within one second list in the order they were made
    (two builds of two quick pushes); the API writes times to the second (schemas/base.py)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, dict[str, str]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)


class ApiToken(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
    user: Mapped[User] = relationship()


class App(Base):
    __tablename__ = "apps"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    config: Mapped[dict[str, str]] = mapped_column(SealedJSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    # ps:restart generations: {"web": 2, "web.1": 1}; a bump replaces those dynos
    restarts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    oneoff_seq: Mapped[int] = mapped_column(Integer, default=0)
    # apps of one group reach each other on a private network as <app>.internal and aliases
    group: Mapped[str | None] = mapped_column(String(63), default=None)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    # what made the app, when an import did ("k8s:<hash of its inputs>"): a later import of
    # other manifests does not change it unless told to
    origin: Mapped[str | None] = mapped_column(String(80), default=None)
    # private (Heroku's internal_routing): not on the router, reachable only in its group
    internal_routing: Mapped[bool] = mapped_column(default=False)
    owner: Mapped[User] = relationship()
    formations: Mapped[list[Formation]] = relationship(
        back_populates="app", cascade="all, delete-orphan", order_by="Formation.type"
    )
    releases: Mapped[list[Release]] = relationship(
        back_populates="app", cascade="all, delete-orphan", order_by="Release.version"
    )
    addons: Mapped[list[Addon]] = relationship(back_populates="app", cascade="all, delete-orphan")
    collaborators: Mapped[list[Collaborator]] = relationship(
        back_populates="app", cascade="all, delete-orphan"
    )
    domains: Mapped[list[Domain]] = relationship(
        back_populates="app", cascade="all, delete-orphan", order_by="Domain.hostname"
    )
    sni_endpoints: Mapped[list[SniEndpoint]] = relationship(
        back_populates="app", cascade="all, delete-orphan", order_by="SniEndpoint.created_at"
    )
    volumes: Mapped[list[Volume]] = relationship(
        back_populates="app", cascade="all, delete-orphan", order_by="Volume.name"
    )


class Formation(Base):
    """Desired quantity and shape of one process type."""

    __tablename__ = "formations"
    __table_args__ = (UniqueConstraint("app_id", "type"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(30))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[str] = mapped_column(String(30), default="basic")
    command: Mapped[str | None] = mapped_column(Text, default=None)
    port: Mapped[int | None] = mapped_column(Integer, default=None)
    check_path: Mapped[str | None] = mapped_column(String(200), default=None)
    boot_timeout: Mapped[int | None] = mapped_column(Integer, default=None)
    # the command replaces the image's ENTRYPOINT too, as a Kubernetes `command` does
    replaces_entrypoint: Mapped[bool] = mapped_column(default=False)
    # [[port, target port], ...]: the group reaches port, the process listens on target port
    ports: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    app: Mapped[App] = relationship(back_populates="formations")


class Release(Base):
    """An immutable pairing of images (per process type) and a config snapshot."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("app_id", "version"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    images: Mapped[dict[str, str]] = mapped_column(default=dict)
    # where prebuilt images were copied from: {"web": "ghcr.io/o/a@sha256:..."}
    image_sources: Mapped[dict[str, str]] = mapped_column(default=dict)
    config: Mapped[dict[str, str]] = mapped_column(SealedJSON, default=dict)
    # process commands from heroku.yml/Procfile ({"web": "gunicorn ..."}) and the release phase
    commands: Mapped[dict[str, str]] = mapped_column(default=dict)
    release_command: Mapped[str | None] = mapped_column(Text, default=None)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    app: Mapped[App] = relationship(back_populates="releases")
    user: Mapped[User] = relationship()


class Addon(Base):
    """A provisioned add-on, owned by one app and attached to it and maybe others.

    ``url`` is the current credential; ``retiring`` holds earlier ones that keep working
    until no dyno uses them (credential rotation); ``backup_schedule`` is
    ``{"at": "HH:MM", "tz": "Area/City", "keep": N}`` or empty.
    """

    __tablename__ = "addons"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60), unique=True)
    service: Mapped[str] = mapped_column(String(30))
    plan: Mapped[str] = mapped_column(String(60))
    resource: Mapped[str] = mapped_column(String(63))
    url: Mapped[str] = mapped_column(SealedText, default="")
    retiring: Mapped[list[str]] = mapped_column(SealedJSON, default=list)
    backup_schedule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    backup_seq: Mapped[int] = mapped_column(Integer, default=0)
    follows_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """The add-on this one streams from (a follower), by id; None once promoted."""
    pool_port: Mapped[int | None] = mapped_column(Integer, default=None)
    """The port of its PgBouncer (``pg:connection-pooling:attach``), if it has one."""
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    app: Mapped[App] = relationship(back_populates="addons")
    attachments: Mapped[list[AddonAttachment]] = relationship(
        back_populates="addon", cascade="all, delete-orphan", order_by="AddonAttachment.created_at"
    )
    backups: Mapped[list[Backup]] = relationship(
        back_populates="addon", cascade="all, delete-orphan", order_by="Backup.num"
    )


class AddonAttachment(Base):
    """An add-on's URL in one app's config as ``<name>_URL``; a ``pooled`` one has the URL
    of the add-on's connection pooler instead (``DATABASE_CONNECTION_POOL_URL``)."""

    __tablename__ = "addon_attachments"
    __table_args__ = (UniqueConstraint("app_id", "name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    addon_id: Mapped[str] = mapped_column(ForeignKey("addons.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    pooled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    addon: Mapped[Addon] = relationship(back_populates="attachments")
    app: Mapped[App] = relationship()

    @property
    def config_var(self) -> str:
        return f"{self.name}_URL"

    @property
    def value(self) -> str:
        """What its config var holds: the add-on's URL, or its pooler's (same credentials)."""
        url = self.addon.url
        if not self.pooled or self.addon.pool_port is None:
            return url
        parts = urlsplit(url)
        netloc = f"{parts.netloc.rsplit(':', 1)[0]}:{self.addon.pool_port}"
        return urlunsplit(parts._replace(netloc=netloc))


class Backup(Base):
    """One ``pg:backups:capture`` (``b001``...): its file, its outcome and its verification.

    ``status``: running, completed, failed. ``verified``: pending, verified, mismatch,
    error (a completed capture is restored into a scratch database and compared).
    """

    __tablename__ = "backups"
    __table_args__ = (UniqueConstraint("addon_id", "num"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    addon_id: Mapped[str] = mapped_column(ForeignKey("addons.id", ondelete="CASCADE"))
    num: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    status: Mapped[str] = mapped_column(String(20), default="running")
    verified: Mapped[str] = mapped_column(String(20), default="pending")
    detail: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)
    tables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(default=now)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    addon: Mapped[Addon] = relationship(back_populates="backups")

    @property
    def label(self) -> str:
        return f"b{self.num:03d}"


class Domain(Base):
    """A custom host name the router sends to the app (besides ``<app>.<domain>``)."""

    __tablename__ = "domains"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    sni_endpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("sni_endpoints.id", ondelete="SET NULL"), default=None
    )
    # when DNS showed the owner's challenge (see services.domainproof); None: not proven
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    app: Mapped[App] = relationship(back_populates="domains")
    sni_endpoint: Mapped[SniEndpoint | None] = relationship(back_populates="domains")


class SniEndpoint(Base):
    """A custom certificate of an app (Heroku's SNI endpoint); the router presents it for
    the app's domains associated with it."""

    __tablename__ = "sni_endpoints"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(30), unique=True)
    certificate_chain: Mapped[str] = mapped_column(Text)
    private_key: Mapped[str] = mapped_column(SealedText)
    cert_domains: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    self_signed: Mapped[bool] = mapped_column(default=False)
    ca_signed: Mapped[bool] = mapped_column(default=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    app: Mapped[App] = relationship(back_populates="sni_endpoints")
    domains: Mapped[list[Domain]] = relationship(
        back_populates="sni_endpoint", order_by="Domain.hostname", passive_deletes=True
    )


class Collaborator(Base):
    """A user other than the owner who may use the app (all but destroy and access)."""

    __tablename__ = "collaborators"
    __table_args__ = (UniqueConstraint("app_id", "user_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    app: Mapped[App] = relationship(back_populates="collaborators")
    user: Mapped[User] = relationship()


class Drain(Base):
    """A log drain: the app's stream forwarded to syslog (TCP/TLS) or HTTPS."""

    __tablename__ = "drains"
    __table_args__ = (UniqueConstraint("app_id", "url"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    token: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    app: Mapped[App] = relationship()


class Schedule(Base):
    """A cron schedule: each run is a one-off dyno ``scheduler.N``."""

    __tablename__ = "schedules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    cron: Mapped[str] = mapped_column(String(100))
    command: Mapped[str] = mapped_column(Text)
    size: Mapped[str] = mapped_column(String(30), default="basic")
    concurrency: Mapped[str] = mapped_column(String(10), default="forbid")
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    app: Mapped[App] = relationship()


class RegistryLogin(Base):
    """An app's credentials for a registry it releases images from (``registry:login``);
    the password is sealed: the platform must send it."""

    __tablename__ = "registry_logins"
    __table_args__ = (UniqueConstraint("app_id", "host"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(255))
    password: Mapped[str] = mapped_column(SealedText)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class ImageRelease(Base):
    """A release from image references: copied into the platform's registry, then released
    (``container:release --image``); ``updates`` are the formation updates asked for."""

    __tablename__ = "image_releases"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    updates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message: Mapped[str] = mapped_column(Text, default="")
    release_version: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class Build(Base):
    """A build from ``git push``: the pushed commit's tree built into images and released.
    ``source_checksum``: ``SHA256:<hex>`` of the tar the hook sent; ``source_version``: the
    commit; ``release_id``/``release_version``: what it released (None when nothing changed
    or it failed)."""

    __tablename__ = "builds"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    source_checksum: Mapped[str] = mapped_column(String(80), default="")
    source_version: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    release_id: Mapped[str | None] = mapped_column(String(36), default=None)
    release_version: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class RepoLink(Base):
    """An app's repository elsewhere (GitHub, GitLab, Gitea): its webhook builds ``branch``
    when pushed. ``url`` (which may hold a token) and the webhook ``secret`` are sealed:
    the platform must send the one and check the other. ``user_id``: who linked it, the
    user the builds run as."""

    __tablename__ = "repo_links"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), unique=True, index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(SealedText)
    branch: Mapped[str] = mapped_column(String(255))
    secret: Mapped[str] = mapped_column(SealedText)
    created_at: Mapped[datetime] = mapped_column(default=now)


class ReviewAppConfig(Base):
    """A pipeline's review apps: pushes of other branches to ``repo_app``'s repository make
    ``<pipeline>-pr-<branch>`` apps (when ``autodeploy``); ``config`` goes into each one
    (sealed: it holds test keys); ``autodestroy_seconds`` after its last deploy it goes."""

    __tablename__ = "review_app_configs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), unique=True
    )
    repo_app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    autodeploy: Mapped[bool] = mapped_column(default=True)
    autodestroy_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    config: Mapped[dict[str, str]] = mapped_column(SealedJSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    repo_app: Mapped[App] = relationship()


class ReviewApp(Base):
    """An app made for one branch of a pipeline's repository; ``postdeploy`` (app.json's
    script) runs once, after its first release, then is cleared."""

    __tablename__ = "review_apps"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), unique=True)
    branch: Mapped[str] = mapped_column(String(255))
    postdeploy: Mapped[str | None] = mapped_column(Text, default=None)
    creator_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    deployed_at: Mapped[datetime] = mapped_column(default=now)
    app: Mapped[App] = relationship()
    pipeline: Mapped[Pipeline] = relationship()


class MetricMinute(Base):
    """One app's metrics for one minute (router requests, latency histogram, dyno memory and
    CPU, crashes); kept for 24 hours, so the table holds at most 1,440 rows per app."""

    __tablename__ = "metric_minutes"
    __table_args__ = (UniqueConstraint("app", "minute"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app: Mapped[str] = mapped_column(String(64), index=True)
    minute: Mapped[int] = mapped_column(Integer, index=True)  # Unix time // 60
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebSession(Base):
    """A dashboard login: only the SHA-256 of the cookie is stored, with its CSRF token."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # the API token it was made with: revoking that token ends the session
    token_id: Mapped[str | None] = mapped_column(String(36), default=None)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    user: Mapped[User] = relationship()


# columns encrypted at rest (see sealed.py); Store.seal_existing rewrites older plain rows
SEALED: list[tuple[type[Base], str]] = [
    (App, "config"),
    (Release, "config"),
    (Addon, "url"),
    (Addon, "retiring"),
    (SniEndpoint, "private_key"),
    (RegistryLogin, "password"),
    (RepoLink, "url"),
    (RepoLink, "secret"),
    (ReviewAppConfig, "config"),
]


class Volume(Base):
    """A persistent volume of an app, mounted into at most one process type (whose one dyno
    keeps its files across restarts, releases and crashes)."""

    __tablename__ = "volumes"
    __table_args__ = (UniqueConstraint("app_id", "name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(30))
    size_mb: Mapped[int] = mapped_column(Integer)
    process_type: Mapped[str | None] = mapped_column(String(30), default=None)
    path: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=now)
    app: Mapped[App] = relationship(back_populates="volumes")


class NetworkSubnet(Base):
    """The subnet the platform gave one of its networks (see moorage.runtime.subnets)."""

    __tablename__ = "network_subnets"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    subnet: Mapped[str] = mapped_column(String(43), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)


class Pipeline(Base):
    """Apps of one codebase by stage (review, development, staging, production); its
    owner is who made it, and whoever may use one of its apps sees it too."""

    __tablename__ = "pipelines"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    owner: Mapped[User] = relationship()
    couplings: Mapped[list[PipelineCoupling]] = relationship(
        back_populates="pipeline", cascade="all, delete-orphan", passive_deletes=True
    )


class PipelineCoupling(Base):
    """One app in one pipeline at one stage (an app is in at most one pipeline); deleting
    the app or the pipeline deletes it."""

    __tablename__ = "pipeline_couplings"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), unique=True)
    stage: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    pipeline: Mapped[Pipeline] = relationship(back_populates="couplings")
    app: Mapped[App] = relationship()


class PipelinePromotion(Base):
    """A promotion of the source app's release to target apps; the targets' statuses
    follow their releases (see services.promotions)."""

    __tablename__ = "pipeline_promotions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    source_app_id: Mapped[str | None] = mapped_column(
        ForeignKey("apps.id", ondelete="SET NULL"), default=None
    )
    source_release_id: Mapped[str | None] = mapped_column(String(36), default=None)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    pipeline: Mapped[Pipeline] = relationship()
    source_app: Mapped[App | None] = relationship()
    targets: Mapped[list[PipelinePromotionTarget]] = relationship(
        back_populates="promotion", cascade="all, delete-orphan", passive_deletes=True
    )


class PipelinePromotionTarget(Base):
    """One target app of a promotion and the release it got (None: it failed before one
    was made, ``error_message`` says why)."""

    __tablename__ = "pipeline_promotion_targets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    promotion_id: Mapped[str] = mapped_column(
        ForeignKey("pipeline_promotions.id", ondelete="CASCADE"), index=True
    )
    app_id: Mapped[str | None] = mapped_column(
        ForeignKey("apps.id", ondelete="SET NULL"), default=None
    )
    release_id: Mapped[str | None] = mapped_column(String(36), default=None)
    error_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
    promotion: Mapped[PipelinePromotion] = relationship(back_populates="targets")
    app: Mapped[App | None] = relationship()
