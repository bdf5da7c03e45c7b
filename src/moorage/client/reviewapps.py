"""A pipeline's review apps (``/pipelines/{id}/review-app-config``, ``/review-apps``)."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.reviewapps import (
    ReviewApp,
    ReviewAppConfig,
    ReviewAppConfigBody,
    ReviewAppCreate,
)

_LIST = Shape(list[ReviewApp])


def enable(c: Client, pipeline: str, body: ReviewAppConfigBody) -> ReviewAppConfig:
    raw = c.request("POST", path("/pipelines/{}/review-app-config", pipeline), body.model_dump())
    return ReviewAppConfig.model_validate(raw)


def disable(c: Client, pipeline: str) -> ReviewAppConfig:
    raw = c.request("DELETE", path("/pipelines/{}/review-app-config", pipeline))
    return ReviewAppConfig.model_validate(raw)


def listed(c: Client, pipeline: str) -> list[ReviewApp]:
    return _LIST.validate_python(c.request("GET", path("/pipelines/{}/review-apps", pipeline)))


def create(c: Client, pipeline: str, branch: str) -> ReviewApp:
    body = ReviewAppCreate(branch=branch).model_dump()
    raw = c.request("POST", path("/pipelines/{}/review-apps", pipeline), body)
    return ReviewApp.model_validate(raw)


def destroy(c: Client, ident: str) -> ReviewApp:
    return ReviewApp.model_validate(c.request("DELETE", path("/review-apps/{}", ident)))
