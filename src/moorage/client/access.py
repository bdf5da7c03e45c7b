"""Who may use an app: its owner and collaborators."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.access import Collaborator

_COLLABORATORS = Shape(list[Collaborator])


def collaborators(c: Client, app: str) -> list[Collaborator]:
    """The owner first, then the collaborators."""
    return _COLLABORATORS.validate_python(c.request("GET", path("/apps/{}/collaborators", app)))


def add_collaborator(c: Client, app: str, email: str) -> Collaborator:
    answer = c.request("POST", path("/apps/{}/collaborators", app), {"user": email})
    return Collaborator.model_validate(answer)


def remove_collaborator(c: Client, app: str, who: str) -> Collaborator:
    """Take ``who``'s access away (the owner), or leave (a collaborator naming themselves)."""
    answer = c.request("DELETE", path("/apps/{}/collaborators/{}", app, who))
    return Collaborator.model_validate(answer)
