"""Apps (``/apps``) and the account (``/account``)."""

from __future__ import annotations

from typing import Any

from moorage.schemas.base import Body, Ref, Resource, Timestamp


class Owner(Resource):
    id: str
    email: str


class AppExtension(Resource):
    """Moorage's part of an app: its private group, aliases in it, and what made it."""

    group: str | None = None
    aliases: list[str] = []
    internal_host: str | None = None
    origin: dict[str, Any] | None = None


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


class AppCreate(Body):
    hint = 'Send {"name": "myapp"}.'
    name: str
    internal_routing: bool | None = None
    moorage: dict[str, Any] | None = None
