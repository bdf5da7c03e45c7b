"""Pipelines and their couplings: which apps of one codebase are at which stage.

Who sees what: a pipeline is visible to its owner (who made it) and to everyone who may use
one of its apps; anyone else gets the answer a missing pipeline gets. Coupling or uncoupling
an app needs access to that app; renaming or destroying a pipeline needs its ownership or
access to every app in it.
"""

from __future__ import annotations

import re

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from moorage.errors import Conflict, Forbidden, InvalidName, InvalidParams, NotFound
from moorage.schemas import pipelines as shapes
from moorage.server.services import apps
from moorage.server.store.models import App, Collaborator, Pipeline, PipelineCoupling, User
from moorage.spec.status import PipelineStage

NAME_RE = re.compile(r"[a-z][a-z0-9-]{2,29}")
STAGES = ", ".join(s.value for s in PipelineStage)


def validate_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise InvalidName(
            f"{name[:60]!r} is not a pipeline name: 3 to 30 lowercase letters, digits and "
            "dashes, starting with a letter."
        )
    return name


def stage(value: str) -> PipelineStage:
    try:
        return PipelineStage(value.strip().lower())
    except ValueError:
        raise InvalidParams(f"{value[:40]!r} is not a stage; choose one of {STAGES}.") from None


def _usable_app_ids(user: User) -> Select[str]:
    shared = select(Collaborator.app_id).where(Collaborator.user_id == user.id)
    return select(App.id).where(or_(App.owner_id == user.id, App.id.in_(shared)))


def visible(session: Session, user: User) -> list[Pipeline]:
    """The pipelines ``user`` owns or has an app in, by name."""
    coupled = select(PipelineCoupling.pipeline_id).where(
        PipelineCoupling.app_id.in_(_usable_app_ids(user))
    )
    query = select(Pipeline).where(or_(Pipeline.owner_id == user.id, Pipeline.id.in_(coupled)))
    return list(session.scalars(query.order_by(Pipeline.name)))


def may_see(pipeline: Pipeline, user: User) -> bool:
    return pipeline.owner_id == user.id or any(
        apps.may_use(c.app, user) for c in pipeline.couplings
    )


def get(session: Session, user: User, ident: str) -> Pipeline:
    """By id or name, if ``user`` may see it; else NotFound, as for a missing one."""
    found = session.scalar(
        select(Pipeline).where(or_(Pipeline.id == ident, Pipeline.name == ident))
    )
    if found is None or not may_see(found, user):
        raise NotFound(f"Couldn't find that pipeline: {ident[:60]}. See `moor pipelines`.")
    return found


def managed(session: Session, user: User, ident: str) -> Pipeline:
    """``get`` for renaming and destroying: its owner, or someone with every app in it."""
    found = get(session, user, ident)
    if found.owner_id != user.id and not all(apps.may_use(c.app, user) for c in found.couplings):
        raise Forbidden(
            f"Only the owner of pipeline {found.name} ({found.owner.email}) or someone with "
            "access to every app in it may rename or destroy it."
        )
    return found


def _free_name(session: Session, name: str, but: Pipeline | None = None) -> str:
    validate_name(name)
    taken = session.scalar(select(Pipeline).where(Pipeline.name == name))
    if taken is not None and taken is not but:
        raise Conflict(f"Name {name} is already taken. Choose another pipeline name.")
    return name


def create(session: Session, user: User, name: str) -> Pipeline:
    pipeline = Pipeline(name=_free_name(session, name), owner_id=user.id)
    session.add(pipeline)
    session.flush()
    session.refresh(pipeline)
    return pipeline


def rename(session: Session, pipeline: Pipeline, name: str) -> Pipeline:
    pipeline.name = _free_name(session, name, pipeline)
    session.flush()
    return pipeline


def destroy(session: Session, pipeline: Pipeline) -> None:
    """The pipeline and its couplings; the apps stay as they are."""
    session.delete(pipeline)
    session.flush()


# -- couplings ------------------------------------------------------------------------------


def coupling_of(session: Session, app: App) -> PipelineCoupling | None:
    return session.scalar(select(PipelineCoupling).where(PipelineCoupling.app_id == app.id))


def couple(
    session: Session, user: User, app_ident: str, pipeline: Pipeline, at: str
) -> PipelineCoupling:
    """Put the app (the user must may use it) in ``pipeline`` at stage ``at``."""
    app = apps.get(session, user, app_ident)
    where = stage(at)
    existing = coupling_of(session, app)
    if existing is not None:
        raise Conflict(
            f"{app.name} is already in pipeline {existing.pipeline.name} "
            f"({existing.stage}). Remove it first: `moor pipelines:remove -a {app.name}`."
        )
    row = PipelineCoupling(pipeline_id=pipeline.id, app_id=app.id, stage=where.value)
    session.add(row)
    session.flush()
    session.refresh(row)
    session.refresh(pipeline)
    return row


def coupling(session: Session, user: User, ident: str) -> PipelineCoupling:
    """A coupling by its id, or by its app's name or id (the app's, if the user may use it)."""
    row = session.get(PipelineCoupling, ident)
    if row is None:
        app = session.scalar(select(App).where(or_(App.name == ident, App.id == ident)))
        row = coupling_of(session, app) if app is not None else None
    if row is None or not apps.may_use(row.app, user):
        raise NotFound(f"Couldn't find that pipeline coupling: {ident[:60]}.")
    return row


def for_app(session: Session, user: User, app_ident: str) -> PipelineCoupling:
    app = apps.get(session, user, app_ident)
    row = coupling_of(session, app)
    if row is None:
        raise NotFound(
            f"{app.name} is in no pipeline. Add it: `moor pipelines:add PIPELINE -a {app.name}`."
        )
    return row


def for_user(session: Session, user: User) -> list[PipelineCoupling]:
    """The couplings of the apps ``user`` may use."""
    query = select(PipelineCoupling).where(PipelineCoupling.app_id.in_(_usable_app_ids(user)))
    return list(session.scalars(query.order_by(PipelineCoupling.created_at)))


def set_stage(session: Session, row: PipelineCoupling, at: str) -> PipelineCoupling:
    row.stage = stage(at).value
    session.flush()
    return row


def uncouple(session: Session, row: PipelineCoupling) -> None:
    session.delete(row)
    session.flush()


# -- shapes ---------------------------------------------------------------------------------


def view(p: Pipeline) -> shapes.Pipeline:
    return shapes.Pipeline(
        id=p.id,
        name=p.name,
        owner=shapes.PipelineOwner(id=p.owner_id),
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def view_coupling(c: PipelineCoupling) -> shapes.Coupling:
    return shapes.Coupling(
        id=c.id,
        app=shapes.NamedRef(id=c.app.id, name=c.app.name),
        pipeline=shapes.NamedRef(id=c.pipeline.id, name=c.pipeline.name),
        stage=PipelineStage(c.stage),
        created_at=c.created_at,
        updated_at=c.updated_at,
    )
