"""Promotions: the source app's current release, as it is, released on downstream apps.

Each target gets a new release with exactly the source release's image digests per process
type (copied into the target's own repositories, blobs mounted, so they outlive the source),
its release phase command and process commands, and the target's own config vars. No build
runs; the reconciler rolls the release out as any other. A target's status follows its
release: pending while it rolls out, then succeeded or failed (``error_message``).

Process types must match: a target that already runs process types refuses a release whose
types differ in either direction (types it runs that the source release has no image for
would keep running the old code; types only the source has would appear unscaled), and the
error names them. A target that runs nothing yet takes the source's types, with the source's
port, command and check settings (scaled as a new app: web 1, others 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moorage.errors import InvalidParams, MoorageError, NotFound
from moorage.registry.client import RegistryClient
from moorage.schemas import pipelines as shapes
from moorage.server.services import apps, pipelines, releases
from moorage.server.store.models import (
    App,
    Formation,
    Pipeline,
    PipelinePromotion,
    PipelinePromotionTarget,
    Release,
    User,
)
from moorage.spec.status import (
    PipelineStage,
    PromotionStatus,
    PromotionTargetStatus,
    ReleaseStatus,
)

NEXT_STAGE = {
    PipelineStage.REVIEW: PipelineStage.DEVELOPMENT,
    PipelineStage.DEVELOPMENT: PipelineStage.STAGING,
    PipelineStage.STAGING: PipelineStage.PRODUCTION,
}
"""Where ``pipelines:promote`` without ``--to`` sends a stage's release."""


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    source: App
    release: Release
    targets: list[App]


def _types(names: Iterable[str]) -> set[str]:
    """Process types among ``names``: the release phase is none."""
    return {t for t in names if t != "release"}


def type_mismatch(source: App, release: Release, target: App) -> str | None:
    """Why ``release`` of ``source`` cannot go to ``target`` (see the module), or None."""
    runs = _types(f.type for f in target.formations)
    has = _types(release.images)
    if not runs or runs == has:
        return None
    what = f"{source.name} v{release.version}"
    parts = []
    if runs - has:
        parts.append(
            f"{target.name} runs {', '.join(sorted(runs - has))}, which {what} has no image for"
        )
    if has - runs:
        parts.append(
            f"{what} has {', '.join(sorted(has - runs))}, which {target.name} does not run"
        )
    return (
        f"Cannot promote {what} to {target.name}: their process types differ ("
        + "; ".join(parts)
        + "). Give both apps the same process types, then promote again."
    )


def plan(
    session: Session, user: User, pipeline_ident: str, source_ident: str, targets: list[str]
) -> Plan:
    """Everything a promotion needs, checked before anything changes."""
    pipeline = pipelines.get(session, user, pipeline_ident)
    source = apps.get(session, user, source_ident)
    coupling = pipelines.coupling_of(session, source)
    if coupling is None or coupling.pipeline_id != pipeline.id:
        raise InvalidParams(f"{source.name} is not in pipeline {pipeline.name}.")
    release = releases.current(session, source)
    if release is None or not _types(release.images):
        raise InvalidParams(
            f"{source.name} has no release with images to promote. Deploy it first "
            f"(`moor container:release web -a {source.name}` or git push)."
        )
    chosen = [apps.get(session, user, t) for t in targets] if targets else []
    if not targets:
        chosen = _downstream(pipeline, PipelineStage(coupling.stage), source, user)
    for target in chosen:
        _check_target(pipeline, source, release, target)
    if len({t.id for t in chosen}) != len(chosen):
        raise InvalidParams("Name each target app once.")
    return Plan(pipeline, source, release, chosen)


def _downstream(pipeline: Pipeline, stage: PipelineStage, source: App, user: User) -> list[App]:
    nxt = NEXT_STAGE.get(stage)
    if nxt is None:
        raise InvalidParams(
            f"{source.name} is at stage {stage}, which has no stage downstream; name the "
            "targets with --to."
        )
    found = sorted((c.app for c in pipeline.couplings if c.stage == nxt), key=lambda a: a.name)
    if not found:
        raise InvalidParams(
            f"Pipeline {pipeline.name} has no app at stage {nxt}, downstream of {source.name}. "
            f"Add one: `moor pipelines:add {pipeline.name} -a APP --stage {nxt}`."
        )
    for app in found:
        if not apps.may_use(app, user):
            raise NotFound(
                f"You have no access to {app.name} ({nxt} in {pipeline.name}); its owner can "
                "add you (`moor access:add`), or name the targets you have with --to."
            )
    return found


def _check_target(pipeline: Pipeline, source: App, release: Release, target: App) -> None:
    if target.id == source.id:
        raise InvalidParams(f"Cannot promote {source.name} to itself; name another target.")
    if not any(c.app_id == target.id for c in pipeline.couplings):
        raise InvalidParams(
            f"{target.name} is not in pipeline {pipeline.name}. Add it: "
            f"`moor pipelines:add {pipeline.name} -a {target.name} --stage production`."
        )
    why = type_mismatch(source, release, target)
    if why:
        raise InvalidParams(why)


def execute(
    session: Session, user: User, plan_: Plan, registry: RegistryClient
) -> tuple[PipelinePromotion, list[Release]]:
    """The promotion and the releases it made (to announce once committed)."""
    promotion = PipelinePromotion(
        pipeline_id=plan_.pipeline.id,
        source_app_id=plan_.source.id,
        source_release_id=plan_.release.id,
        user_id=user.id,
    )
    session.add(promotion)
    session.flush()
    made: list[Release] = []
    for target in plan_.targets:
        row = PipelinePromotionTarget(promotion_id=promotion.id, app_id=target.id)
        try:
            rel = _release_on(session, user, plan_, target, registry)
        except MoorageError as exc:
            row.error_message = exc.message
        else:
            row.release_id = rel.id
            made.append(rel)
        session.add(row)
    session.flush()
    session.refresh(promotion)
    return promotion, made


def _release_on(
    session: Session, user: User, plan_: Plan, target: App, registry: RegistryClient
) -> Release:
    src = plan_.release
    images = {t: registry.copy_image(ref, f"{target.name}/{t}") for t, ref in src.images.items()}
    if not _types(f.type for f in target.formations):
        _take_formation(session, plan_.source, target, _types(images))
    rel = releases.create(
        session,
        target,
        user,
        f"Promote {plan_.source.name} v{src.version}",
        images=images,
        release_command=src.release_command or "",
        commands=dict(src.commands),
    )
    rel.images = images  # exactly the source's, as a rollback does
    rel.commands = dict(src.commands)
    rel.release_command = src.release_command
    rel.image_sources = {t: (src.image_sources or {}).get(t) or src.images[t] for t in images}
    return rel


def _take_formation(session: Session, source: App, target: App, types: set[str]) -> None:
    shapes_of = {f.type: f for f in source.formations}
    for kind in sorted(types - {f.type for f in target.formations}):
        model = shapes_of.get(kind)
        row = Formation(app_id=target.id, type=kind, quantity=1 if kind == "web" else 0)
        if model is not None:
            row.command, row.port, row.check_path = model.command, model.port, model.check_path
            row.boot_timeout, row.ports = model.boot_timeout, list(model.ports or [])
            row.replaces_entrypoint = model.replaces_entrypoint
        target.formations.append(row)
    session.flush()


def get(session: Session, user: User, ident: str) -> PipelinePromotion:
    row = session.get(PipelinePromotion, ident)
    if row is None or not pipelines.may_see(row.pipeline, user):
        raise NotFound(f"Couldn't find that promotion: {ident[:60]}.")
    return row


def _target_status(
    session: Session, row: PipelinePromotionTarget
) -> tuple[PromotionTargetStatus, str | None]:
    if row.release_id is None:
        return PromotionTargetStatus.FAILED, row.error_message or "No release was made."
    rel = session.get(Release, row.release_id)
    if rel is None:
        return PromotionTargetStatus.FAILED, "The release was deleted with its app."
    if rel.status == ReleaseStatus.PENDING:
        return PromotionTargetStatus.PENDING, None
    if rel.status == ReleaseStatus.FAILED:
        return PromotionTargetStatus.FAILED, rel.status_reason or "The release failed."
    return PromotionTargetStatus.SUCCEEDED, None


def view_targets(session: Session, p: PipelinePromotion) -> list[shapes.PromotionTarget]:
    out = []
    for row in p.targets:
        status, error = _target_status(session, row)
        out.append(
            shapes.PromotionTarget(
                id=row.id,
                app=shapes.NamedRef(id=row.app_id or "", name=row.app.name if row.app else None),
                pipeline_promotion=shapes.IdRef(id=p.id),
                release=shapes.IdRef(id=row.release_id) if row.release_id else None,
                status=status,
                error_message=error,
            )
        )
    return out


def view(session: Session, p: PipelinePromotion) -> shapes.Promotion:
    pending = any(t.status == PromotionTargetStatus.PENDING for t in view_targets(session, p))
    return shapes.Promotion(
        id=p.id,
        pipeline=shapes.IdRef(id=p.pipeline_id),
        source=shapes.PromotionSource(
            app=shapes.IdRef(id=p.source_app_id or ""),
            release=shapes.IdRef(id=p.source_release_id) if p.source_release_id else None,
        ),
        status=PromotionStatus.PENDING if pending else PromotionStatus.COMPLETED,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )
