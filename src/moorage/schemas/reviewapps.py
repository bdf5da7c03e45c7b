"""Review apps of a pipeline (``/pipelines/{id}/review-app-config``, ``/review-apps``), in
the shapes of Heroku's ``review-app-config`` and ``review-app`` (fields Heroku has and we
have no use for are left out)."""

from __future__ import annotations

from pydantic import Field

from moorage.schemas.base import Body, Ref, Resource, Timestamp


class ReviewAppConfigBody(Body):
    hint = (
        'Send {"repo": "APP", "automatic_review_apps": true, "autodestroy": "5d", '
        '"config_vars": {"KEY": "value"}}.'
    )
    repo: str | None = Field(None, max_length=100)  # the app whose repository it is
    automatic_review_apps: bool = True
    autodestroy: str | None = Field(None, max_length=10)  # 5d, 12h, 30m, never
    config_vars: dict[str, str] = {}


class ReviewAppConfig(Resource):
    pipeline: Ref
    repo: Ref  # the app whose git repository's branches become review apps
    automatic_review_apps: bool
    destroy_stale_apps: bool
    stale_days: int | None = None
    autodestroy_seconds: int | None = None
    config_vars: list[str]  # names only: the values may be keys


class ReviewAppCreate(Body):
    hint = 'Send {"branch": "my-feature"}.'
    branch: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._/-]+$")


class ReviewApp(Resource):
    id: str
    app: Ref
    pipeline: Ref
    branch: str
    status: str
    web_url: str
    build: str | None = None  # the build deploying it, when one was started
    created_at: Timestamp
    updated_at: Timestamp
