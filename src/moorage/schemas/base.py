"""What every schema model shares."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


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

    model_config = ConfigDict(extra="allow")


class Ref(Resource):
    """``{"id": ..., "name": ...}``: how Heroku's shapes point at another resource."""

    id: str
    name: str
