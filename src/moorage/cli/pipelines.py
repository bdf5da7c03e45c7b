"""pipelines, pipelines:create, pipelines:add, pipelines:info, pipelines:remove,
pipelines:destroy, pipelines:promote."""

from __future__ import annotations

import contextlib
import re
import time

import click

from moorage.cli.base import app_option, cli, client, err, json_option, out, print_json, table
from moorage.client import pipelines as api
from moorage.client.api import Client
from moorage.errors import InvalidParams, MoorageError, RuntimeFailure
from moorage.schemas.pipelines import PromotionTarget
from moorage.spec.status import PipelineStage, PromotionTargetStatus

ORDER = [s.value for s in PipelineStage]
GUESSES = [
    (re.compile(r"-(dev|development|uat|tst|test|qa)$"), "development"),
    (re.compile(r"-(stg|staging)$"), "staging"),
    (re.compile(r"-(prd|prod|production|admin|demo)$"), "production"),
]
"""How the Heroku CLI guesses an app's stage from its name when none is given."""

stage_option = click.option(
    "-s",
    "--stage",
    type=click.Choice(ORDER),
    default=None,
    help="The app's stage (guessed from a name ending in -staging, -prod, -dev... if not given).",
)


def _stage(app: str, given: str | None) -> str:
    if given:
        return given
    for pattern, stage in GUESSES:
        if pattern.search(app):
            return stage
    raise InvalidParams(f"Give {app}'s stage: --stage {'|'.join(ORDER)}.")


@cli.command("pipelines")
@json_option
def pipelines_list(as_json: bool) -> None:
    """List the pipelines you own or have an app in."""
    found = api.pipelines(client())
    if as_json:
        print_json([p.model_dump(mode="json") for p in found])
        return
    table(["name", "created"], [(p.name, p.created_at) for p in found])


@cli.command("pipelines:create")
@click.argument("name")
@app_option
@stage_option
@json_option
def pipelines_create(name: str, app: str, stage: str | None, as_json: bool) -> None:
    """Create pipeline NAME with the app as its first member at --stage."""
    at = _stage(app, stage)
    c = client()
    made = api.create(c, name)
    try:
        coupling = api.couple(c, made.id, app, at)
    except MoorageError:
        with contextlib.suppress(MoorageError):
            api.destroy(c, made.id)  # no half-made pipeline behind a refused coupling
        raise
    if as_json:
        print_json(coupling.model_dump(mode="json"))
        return
    out.print(f"Created pipeline [bold]{made.name}[/bold] with {app} as {at}")


@cli.command("pipelines:add")
@click.argument("pipeline")
@app_option
@stage_option
@json_option
def pipelines_add(pipeline: str, app: str, stage: str | None, as_json: bool) -> None:
    """Add the app to PIPELINE at --stage."""
    at = _stage(app, stage)
    c = client()
    coupling = api.couple(c, api.pipeline(c, pipeline).id, app, at)
    if as_json:
        print_json(coupling.model_dump(mode="json"))
        return
    out.print(f"Added {app} to [bold]{coupling.pipeline.name}[/bold] as {at}")


@cli.command("pipelines:info")
@click.argument("pipeline")
@json_option
def pipelines_info(pipeline: str, as_json: bool) -> None:
    """Show PIPELINE's apps by stage, upstream first."""
    c = client()
    found = api.pipeline(c, pipeline)
    rows = sorted(api.couplings(c, found.id), key=lambda r: (ORDER.index(r.stage), r.app.name))
    if as_json:
        print_json(
            {
                "pipeline": found.model_dump(mode="json"),
                "couplings": [r.model_dump(mode="json") for r in rows],
            }
        )
        return
    out.print(f"=== [bold]{found.name}[/bold]\n")
    table(["app name", "stage"], [(r.app.name, r.stage) for r in rows])


@cli.command("pipelines:remove")
@app_option
def pipelines_remove(app: str) -> None:
    """Remove the app from its pipeline (the app itself stays as it is)."""
    c = client()
    coupling = api.coupling_of(c, app)
    api.uncouple(c, coupling.id)
    out.print(f"Removed {app} from [bold]{coupling.pipeline.name}[/bold]")


@cli.command("pipelines:destroy")
@click.argument("pipeline")
def pipelines_destroy(pipeline: str) -> None:
    """Destroy PIPELINE; its apps stay as they are, in no pipeline."""
    gone = api.destroy(client(), pipeline)
    out.print(f"Destroyed pipeline [bold]{gone.name}[/bold]")


@cli.command("pipelines:promote")
@app_option
@click.option(
    "-t",
    "--to",
    "targets",
    default="",
    help="Comma-separated apps to promote to (default: the apps of the next stage).",
)
@json_option
def pipelines_promote(app: str, targets: str, as_json: bool) -> None:
    """Release the app's current release on its downstream apps, without a build.

    Each target runs the same image digests, with its own config vars; the CLI waits until
    every target's release is live or failed."""
    c = client()
    coupling = api.coupling_of(c, app)
    names = [t.strip() for t in targets.split(",") if t.strip()]
    promotion = api.promote(c, coupling.pipeline.id, coupling.app.id, names)
    done = _wait(c, promotion.id)
    if as_json:
        print_json([t.model_dump(mode="json") for t in done])
    else:
        table(
            ["app", "status", "error"],
            [(t.app.name or t.app.id, t.status, t.error_message) for t in done],
        )
    failed = [t.app.name or t.app.id for t in done if t.status == PromotionTargetStatus.FAILED]
    if failed:
        raise RuntimeFailure(f"Promotion to {', '.join(failed)} failed; see the errors above.")


def _wait(c: Client, promotion_id: str, timeout: float = 900) -> list[PromotionTarget]:
    deadline = time.monotonic() + timeout
    with err.status("Promoting..."):
        while True:
            found = api.promotion_targets(c, promotion_id)
            if all(t.status != PromotionTargetStatus.PENDING for t in found):
                return found
            if time.monotonic() > deadline:
                raise RuntimeFailure(
                    f"The promotion is still rolling out after {timeout:.0f}s; see "
                    "`moor releases -a APP` of each target."
                )
            time.sleep(0.5)
