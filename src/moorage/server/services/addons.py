"""Add-ons: provision through a provider, set its config vars, make a release."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from moorage.addons.base import Provider
from moorage.errors import Conflict, InvalidParams
from moorage.server.services import releases
from moorage.server.store.models import Addon, App, Release, User

ALIASES = {"heroku-postgresql": "postgresql", "postgres": "postgresql"}


def resolve_service(plan: str, providers: dict[str, Provider]) -> Provider:
    service = plan.split(":", 1)[0]
    service = ALIASES.get(service, service)
    if service not in providers:
        raise InvalidParams(
            f"Unknown add-on plan {plan!r}. Available: {', '.join(sorted(providers))}."
        )
    return providers[service]


def create(
    session: Session, app: App, user: User, plan: str, providers: dict[str, Provider]
) -> tuple[Addon, Release]:
    provider = resolve_service(plan, providers)
    if any(a.service == provider.service for a in app.addons):
        raise Conflict(
            f"{app.name} already has a {provider.service} add-on; its {provider.config_var} is set."
        )
    suffix = secrets.token_hex(4)
    resource = f"{app.name.replace('-', '_')}_{suffix}"
    config = provider.provision(resource)
    addon = Addon(
        app_id=app.id,
        name=f"{provider.service}-{app.name}-{suffix}",
        service=provider.service,
        plan=f"{provider.service}:basic",
        resource=resource,
        config=config,
    )
    app.addons.append(addon)
    app.config = {**app.config, **config}
    session.flush()
    release = releases.create(
        session, app, user, f"Attach {provider.config_var.removesuffix('_URL')} ({addon.name})"
    )
    return addon, release


def destroy_all(app: App, providers: dict[str, Provider]) -> None:
    """Deprovision every add-on of an app that is being deleted."""
    for addon in app.addons:
        if addon.service in providers:
            providers[addon.service].deprovision(addon.resource)
