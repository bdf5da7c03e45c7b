"""Config vars: read them, set and remove some (a new release)."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.config import ConfigVars

_CONFIG = Shape(ConfigVars)


def config_vars(c: Client, app: str) -> ConfigVars:
    return _CONFIG.validate_python(c.request("GET", path("/apps/{}/config-vars", app)))


def update_config(c: Client, app: str, changes: dict[str, str | None]) -> ConfigVars:
    """Set each var to its string, remove those given None; the answer is all the vars."""
    answer = c.request("PATCH", path("/apps/{}/config-vars", app), changes)
    return _CONFIG.validate_python(answer)
