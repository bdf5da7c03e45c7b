"""Pipelines (``/pipelines``), their couplings (``/pipeline-couplings``) and promotions
(``/pipeline-promotions``), in Heroku's shapes."""

from __future__ import annotations

from moorage.schemas.base import Body, Resource, Timestamp
from moorage.spec.status import PipelineStage, PromotionStatus, PromotionTargetStatus


class IdRef(Resource):
    """``{"id": ...}``: how Heroku's pipeline shapes point at an app, pipeline or release."""

    id: str


class NamedRef(IdRef):
    """An app or pipeline with its name (Heroku sends the id only; the name is ours)."""

    name: str | None = None


class PipelineOwner(Resource):
    id: str
    type: str = "user"


class Generation(Resource):
    id: str = "moorage"
    name: str = "cedar"


class Pipeline(Resource):
    id: str
    name: str
    owner: PipelineOwner
    generation: Generation = Generation()
    created_at: Timestamp
    updated_at: Timestamp


class PipelineCreate(Body):
    hint = 'Send {"name": "my-pipeline"}.'
    name: str


class PipelineUpdate(Body):
    hint = 'Send {"name": "new-name"}.'
    name: str


class Coupling(Resource):
    id: str
    app: NamedRef
    pipeline: NamedRef
    stage: PipelineStage
    created_at: Timestamp
    updated_at: Timestamp


class CouplingCreate(Body):
    hint = 'Send {"app": "<app>", "pipeline": "<pipeline id or name>", "stage": "staging"}.'
    app: str
    pipeline: str
    stage: str


class CouplingUpdate(Body):
    hint = 'Send {"stage": "production"}.'
    stage: str


class PromotionSource(Resource):
    app: IdRef
    release: IdRef | None = None


class Promotion(Resource):
    id: str
    pipeline: IdRef
    source: PromotionSource
    status: PromotionStatus
    created_at: Timestamp
    updated_at: Timestamp


class PromotionTarget(Resource):
    id: str
    app: NamedRef
    pipeline_promotion: IdRef
    release: IdRef | None = None
    status: PromotionTargetStatus
    error_message: str | None = None


class IdIn(Body):
    id: str


class SourceIn(Body):
    app: IdIn


class TargetIn(Body):
    app: IdIn


class PromotionCreate(Body):
    hint = (
        'Send {"pipeline": {"id": ...}, "source": {"app": {"id": ...}}, '
        '"targets": [{"app": {"id": ...}}]}.'
    )
    pipeline: IdIn
    source: SourceIn
    targets: list[TargetIn]
