"""Config vars (``/apps/{app}/config-vars``): an object of names and string values."""

from __future__ import annotations

from pydantic import ConfigDict, JsonValue

from moorage.schemas.base import Body

ConfigVars = dict[str, str]
"""The app's (or a release's) config vars, as the API answers them."""


class ConfigVarsUpdate(Body):
    """A PATCH: each key set to a string, or removed with null. Every value is accepted
    here: ``services/config.validate_changes`` checks names and values, all or nothing, and
    says which var is wrong without echoing a value (they are secrets)."""

    model_config = ConfigDict(extra="allow")
    hint = 'Send {"KEY": "value", "OTHER": null}: a string sets a var, null removes it.'
    __pydantic_extra__: dict[str, JsonValue]
