"""Pipelines, their couplings and promotions (``/pipelines``, ``/pipeline-couplings``,
``/pipeline-promotions``)."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.pipelines import (
    Coupling,
    CouplingCreate,
    IdIn,
    Pipeline,
    PipelineCreate,
    Promotion,
    PromotionCreate,
    PromotionTarget,
    SourceIn,
    TargetIn,
)

_PIPELINES = Shape(list[Pipeline])
_COUPLINGS = Shape(list[Coupling])
_TARGETS = Shape(list[PromotionTarget])


def pipelines(c: Client) -> list[Pipeline]:
    """The pipelines the user owns or has an app in, by name."""
    return _PIPELINES.validate_python(c.request("GET", "/pipelines"))


def pipeline(c: Client, ident: str) -> Pipeline:
    return Pipeline.model_validate(c.request("GET", path("/pipelines/{}", ident)))


def create(c: Client, name: str) -> Pipeline:
    body = PipelineCreate(name=name).model_dump(mode="json")
    return Pipeline.model_validate(c.request("POST", "/pipelines", body))


def destroy(c: Client, ident: str) -> Pipeline:
    return Pipeline.model_validate(c.request("DELETE", path("/pipelines/{}", ident)))


def couplings(c: Client, pipeline_ident: str) -> list[Coupling]:
    answer = c.request("GET", path("/pipelines/{}/pipeline-couplings", pipeline_ident))
    return _COUPLINGS.validate_python(answer)


def couple(c: Client, pipeline_id: str, app: str, stage: str) -> Coupling:
    body = CouplingCreate(app=app, pipeline=pipeline_id, stage=stage).model_dump(mode="json")
    return Coupling.model_validate(c.request("POST", "/pipeline-couplings", body))


def coupling_of(c: Client, app: str) -> Coupling:
    return Coupling.model_validate(c.request("GET", path("/apps/{}/pipeline-couplings", app)))


def uncouple(c: Client, coupling_id: str) -> Coupling:
    return Coupling.model_validate(c.request("DELETE", path("/pipeline-couplings/{}", coupling_id)))


def promote(c: Client, pipeline_id: str, source_app: str, targets: list[str]) -> Promotion:
    """Promote the source's current release to ``targets`` (app names or ids; none: the
    apps of the next stage downstream)."""
    body = PromotionCreate(
        pipeline=IdIn(id=pipeline_id),
        source=SourceIn(app=IdIn(id=source_app)),
        targets=[TargetIn(app=IdIn(id=t)) for t in targets],
    ).model_dump(mode="json")
    return Promotion.model_validate(c.request("POST", "/pipeline-promotions", body, slow=True))


def promotion_targets(c: Client, promotion_id: str) -> list[PromotionTarget]:
    answer = c.request("GET", path("/pipeline-promotions/{}/promotion-targets", promotion_id))
    return _TARGETS.validate_python(answer)
