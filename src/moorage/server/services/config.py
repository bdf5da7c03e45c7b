"""Config vars: a PATCH merges, ``null`` deletes, a change makes a release."""

from __future__ import annotations

from sqlalchemy.orm import Session

from moorage.errors import InvalidParams
from moorage.server.services import releases
from moorage.server.store.models import App, Release, User
from moorage.spec.names import validate_config_key, validate_config_value


def validate_changes(body: object) -> dict[str, str | None]:
    """Check a PATCH body: an object of string (or null) values with valid keys."""
    if not isinstance(body, dict):
        raise InvalidParams("Config vars must be a JSON object of KEY: value.")
    out: dict[str, str | None] = {}
    for key, value in body.items():
        validate_config_key(str(key))
        if value is not None and not isinstance(value, str):
            raise InvalidParams(
                f"Config var {key} must be a string or null, not {type(value).__name__}."
            )
        out[str(key)] = None if value is None else validate_config_value(str(key), value)
    return out


def update(
    session: Session, app: App, user: User, changes: dict[str, str | None]
) -> Release | None:
    """Apply ``changes``; return the new release, or None when nothing changed."""
    config = dict(app.config)
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    if config == app.config:
        return None
    set_keys = sorted(k for k, v in changes.items() if v is not None and app.config.get(k) != v)
    unset = sorted(k for k, v in changes.items() if v is None and k in app.config)
    app.config = config
    parts = ([f"Set {', '.join(set_keys)} config vars"] if set_keys else []) + (
        [f"Remove {', '.join(unset)} config vars"] if unset else []
    )
    return releases.create(session, app, user, "; ".join(parts))
