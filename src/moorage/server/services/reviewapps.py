"""Review apps of a pipeline: their configuration, their names and rows (see
``reviewdeploy.py`` for making, deploying and removing them)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import InvalidParams, NotFound
from moorage.schemas import reviewapps as shapes
from moorage.schemas.base import Ref
from moorage.server.store.models import App, Pipeline, PipelineCoupling, ReviewApp, ReviewAppConfig
from moorage.spec.names import validate_config_key, validate_config_value

_DURATION = re.compile(r"^(\d{1,4})([dhm])$")
_UNITS = {"d": 86400, "h": 3600, "m": 60}
MAX_NAME = 30


def parse_autodestroy(text: str | None) -> int | None:
    """``5d``, ``12h`` or ``30m`` as seconds; ``None`` or ``never``: never."""
    if text is None or text == "never":
        return None
    found = _DURATION.fullmatch(text.strip())
    if found is None or int(found[1]) == 0:
        raise InvalidParams(f"{text!r} is no duration: use 5d, 12h, 30m or never.")
    return int(found[1]) * _UNITS[found[2]]


def name_for(pipeline: str, branch: str) -> str:
    """``<pipeline>-pr-<branch>`` as an app name; a long one keeps a hash of the branch."""
    slug = re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-") or "branch"
    name = f"{pipeline}-pr-{slug}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(branch.encode()).hexdigest()[:6]
    return f"{name[: MAX_NAME - 7].rstrip('-')}-{digest}"


def check_config(pairs: dict[str, str]) -> dict[str, str]:
    return {validate_config_key(k): validate_config_value(k, v) for k, v in pairs.items()}


def config_of(session: Session, pipeline: Pipeline) -> ReviewAppConfig:
    found = session.scalar(
        select(ReviewAppConfig).where(ReviewAppConfig.pipeline_id == pipeline.id)
    )
    if found is None:
        raise NotFound(
            f"Review apps are not enabled for {pipeline.name}. Enable them with "
            f"`moor reviewapps:enable -p {pipeline.name}`."
        )
    return found


def enable(
    session: Session,
    pipeline: Pipeline,
    repo_app: App,
    autodeploy: bool,
    autodestroy: int | None,
    config: dict[str, str],
) -> ReviewAppConfig:
    found = session.scalar(
        select(ReviewAppConfig).where(ReviewAppConfig.pipeline_id == pipeline.id)
    )
    if found is None:
        found = ReviewAppConfig(pipeline_id=pipeline.id, repo_app_id=repo_app.id)
        session.add(found)
    found.repo_app_id, found.autodeploy = repo_app.id, autodeploy
    found.autodestroy_seconds = autodestroy
    found.config = {**(found.config or {}), **check_config(config)}
    session.flush()
    session.refresh(found)
    return found


def for_repo_app(session: Session, app: App) -> tuple[Pipeline, ReviewAppConfig] | None:
    """The pipeline whose review apps are built from ``app``'s repository."""
    row = session.execute(
        select(Pipeline, ReviewAppConfig)
        .join(ReviewAppConfig, ReviewAppConfig.pipeline_id == Pipeline.id)
        .where(ReviewAppConfig.repo_app_id == app.id)
    ).first()
    return None if row is None else (row[0], row[1])


def find(session: Session, pipeline: Pipeline, branch: str) -> ReviewApp | None:
    return session.scalar(
        select(ReviewApp).where(ReviewApp.pipeline_id == pipeline.id, ReviewApp.branch == branch)
    )


def listed(session: Session, pipeline: Pipeline) -> list[ReviewApp]:
    query = select(ReviewApp).where(ReviewApp.pipeline_id == pipeline.id)
    return list(session.scalars(query.order_by(ReviewApp.created_at)))


def expired(session: Session, now: datetime | None = None) -> list[ReviewApp]:
    """Review apps whose last deploy is older than their pipeline's autodestroy."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    rows = session.execute(
        select(ReviewApp, ReviewAppConfig.autodestroy_seconds).join(
            ReviewAppConfig, ReviewAppConfig.pipeline_id == ReviewApp.pipeline_id
        )
    ).all()
    return [
        r for r, seconds in rows if seconds and r.deployed_at + timedelta(seconds=seconds) < now
    ]


def is_review_stage(session: Session, app: App) -> bool:
    stage = session.scalar(select(PipelineCoupling.stage).where(PipelineCoupling.app_id == app.id))
    return stage == "review"


def view_config(found: ReviewAppConfig, pipeline: Pipeline) -> shapes.ReviewAppConfig:
    seconds = found.autodestroy_seconds
    return shapes.ReviewAppConfig(
        pipeline=Ref.of(pipeline),
        repo=Ref.of(found.repo_app),
        automatic_review_apps=found.autodeploy,
        destroy_stale_apps=seconds is not None,
        stale_days=None if seconds is None else max(1, seconds // 86400),
        autodestroy_seconds=seconds,
        config_vars=sorted(found.config or {}),
    )


def view(row: ReviewApp, web_url: str) -> shapes.ReviewApp:
    return shapes.ReviewApp(
        id=row.id,
        app=Ref.of(row.app),
        pipeline=Ref.of(row.pipeline),
        branch=row.branch,
        status="created",
        web_url=web_url,
        created_at=row.created_at,
        updated_at=row.deployed_at,
    )
