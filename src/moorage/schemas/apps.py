"""Apps (``/apps``) and the account (``/account``)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, StrictBool

from moorage.schemas.base import Body, Ref, Resource, Timestamp


class Owner(Resource):
    id: str
    email: str


class AppExtension(Resource):
    """Moorage's part of an app: its private group, aliases in it, and what made it."""

    group: str | None = None
    aliases: list[str] = []
    internal_host: str | None = None
    origin: str | None = None


class App(Resource):
    """Heroku's ``app``; ``web_url`` is None for a private app (``internal_routing``)."""

    id: str
    name: str
    owner: Owner
    created_at: Timestamp
    updated_at: Timestamp
    released_at: Timestamp
    web_url: str | None
    git_url: str | None = None
    maintenance: bool = False
    acm: bool = False
    archived_at: Timestamp = None
    buildpack_provided_description: str | None = None
    build_stack: Ref = Ref(id="moorage-bookworm", name="container")
    stack: Ref = Ref(id="moorage-bookworm", name="container")
    region: Ref = Ref(id="local", name="local")
    space: Ref | None = None
    organization: Ref | None = None
    team: Ref | None = None
    internal_routing: bool = False
    repo_size: int | None = None
    slug_size: int | None = None
    generation: Ref = Ref(id="moorage", name="moorage")
    moorage: AppExtension


class Account(Resource):
    id: str
    email: str
    name: str
    created_at: Timestamp
    updated_at: Timestamp
    allow_tracking: bool = False
    beta: bool = False
    verified: bool = True
    two_factor_authentication: bool = False
    default_organization: Ref | None = None
    default_team: Ref | None = None


class AppExtensionBody(Body):
    """``moorage`` in a request: the group and aliases (``apps:join``), or only ``origin``
    (what made the app, ``k8s:<hash>``: an import adopting it)."""

    # other keys are kept (not ignored): only a body of ``origin`` alone adopts an app
    model_config = ConfigDict(extra="allow")

    group: str | None = None
    aliases: list[str] | None = None
    origin: str | None = None


class AppCreate(Body):
    hint = 'Send {"name": "myapp"}.'
    name: str
    internal_routing: StrictBool | None = None
    moorage: AppExtensionBody | None = None


class AppUpdate(Body):
    """Heroku's ``internal_routing`` (private or public), or Moorage's ``moorage`` part: a
    group to join (null: leave it) with aliases, or the origin alone."""

    hint = 'Send {"moorage": {"group": "NAME" or null, "aliases": [...]}}.'
    internal_routing: StrictBool | None = None
    moorage: AppExtensionBody | None = None


class PlatformInfo(Resource):
    """``/moorage/info``: where the registry and the router are; the HTTPS keys only when
    the platform serves HTTPS at its edge."""

    api_url: str
    registry: str
    domain: str
    router_port: int
    registry_full: str | None = None
    user: str
    heroku_host: str | None = Field(default=None, exclude_if=lambda v: v is None)
    https_api_url: str | None = Field(default=None, exclude_if=lambda v: v is None)
    https_registry: str | None = Field(default=None, exclude_if=lambda v: v is None)
    https_port: int | None = Field(default=None, exclude_if=lambda v: v is None)
    ca_path: str | None = Field(default=None, exclude_if=lambda v: v is None)
