"""Apps: list, create, show, make private or public, group, destroy."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.apps import App, AppCreate, AppExtensionBody, AppUpdate

_APPS = Shape(list[App])


def apps(c: Client) -> list[App]:
    """The apps the user owns or collaborates on, by name."""
    return _APPS.validate_python(c.request("GET", "/apps"))


def create(c: Client, name: str, *, private: bool = False, origin: str | None = None) -> App:
    """A new app; ``private`` keeps it off the router, ``origin`` records the import that
    made it (``k8s:<hash>``)."""
    body = AppCreate(name=name)
    if origin:
        body.moorage = AppExtensionBody(origin=origin)
    if private:
        body.internal_routing = True
    return App.model_validate(c.request("POST", "/apps", body.model_dump(exclude_unset=True)))


def adopt(c: Client, name: str, origin: str) -> App:
    """Record ``origin`` (an import) as what made the app: later imports may change it."""
    return _update(c, name, AppUpdate(moorage=AppExtensionBody(origin=origin)))


def app(c: Client, name: str) -> App:
    return App.model_validate(c.request("GET", path("/apps/{}", name)))


def destroy(c: Client, name: str) -> App:
    return App.model_validate(c.request("DELETE", path("/apps/{}", name)))


def set_private(c: Client, name: str, private: bool) -> App:
    """Take the app off the router (private: reached only inside its group) or put it back."""
    return _update(c, name, AppUpdate(internal_routing=private))


def join(c: Client, name: str, group: str, aliases: list[str]) -> App:
    """Put the app in ``group``, answering to ``aliases`` on the group's network too."""
    return _update(c, name, AppUpdate(moorage=AppExtensionBody(group=group, aliases=aliases)))


def leave(c: Client, name: str) -> App:
    return _update(c, name, AppUpdate(moorage=AppExtensionBody(group=None)))


def _update(c: Client, name: str, change: AppUpdate) -> App:
    body = change.model_dump(exclude_unset=True)
    return App.model_validate(c.request("PATCH", path("/apps/{}", name), body))
