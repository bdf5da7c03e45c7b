"""What every schema model shares."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, PlainSerializer

# Resource's defer_build: a model's validator is built when first used, not when its module is
# imported (``moor apps`` reads one response shape of those its modules define). Not for
# Body: FastAPI's body parameters over deferred models make pydantic warn, at every route,
# of an ``alias`` it ignores; request bodies are few, so they are built at import.


class Body(BaseModel):
    """A request body. Keys it does not name are ignored, as the API always did (the
    Heroku CLI sends some we have no use for).

    ``hint`` says what to send; a body that does not validate is answered with
    ``invalid_params``, what was wrong and where, then the hint (server/app.py)."""

    model_config = ConfigDict(extra="ignore")
    hint: ClassVar[str] = ""


class Resource(BaseModel):
    """A response body. It serializes exactly its fields, in their order; a client keeps
    keys a newer server added (``extra="allow"``), so an older CLI still reads them."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class Named(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class Ref(Resource):
    """``{"id": ..., "name": ...}``: how Heroku's shapes point at another resource."""

    id: str
    name: str

    @classmethod
    def of(cls, thing: Named) -> Ref:
        """The reference to ``thing`` (a store row: an app, an add-on)."""
        return cls(id=thing.id, name=thing.name)


def _stamp(value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


Timestamp = Annotated[datetime | str | None, PlainSerializer(_stamp, return_type=str | None)]
"""A time as Heroku writes it, ``2026-12-06T10:42:00Z`` (a store row's ``datetime`` or a
runtime's ISO string as given); clients read it back as a string."""
