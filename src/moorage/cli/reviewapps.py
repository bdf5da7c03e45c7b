"""reviewapps, reviewapps:enable, reviewapps:disable, reviewapps:create, reviewapps:destroy:
an app per branch of a pipeline's repository, made from its app.json."""

from __future__ import annotations

import click

from moorage.cli.base import cli, client, json_option, out, print_json, table
from moorage.client import reviewapps as api
from moorage.client.builds import output
from moorage.errors import InvalidParams
from moorage.schemas.reviewapps import ReviewAppConfigBody

pipeline_option = click.option("-p", "--pipeline", required=True, help="The pipeline.")


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise InvalidParams(f"{value!r} is not KEY=VALUE.")
        pairs[key] = rest
    return pairs


@cli.command("reviewapps:enable")
@pipeline_option
@click.option("-a", "--app", "repo", default=None, help="The app whose repository it is.")
@click.option("--autodeploy/--no-autodeploy", default=True, show_default=True)
@click.option("--autodestroy", default=None, help="Destroy after this long without a deploy (5d).")
@click.option("--config", "config", multiple=True, help="KEY=VALUE every review app gets.")
@json_option
def reviewapps_enable(
    pipeline: str,
    repo: str | None,
    autodeploy: bool,
    autodestroy: str | None,
    config: tuple[str, ...],
    as_json: bool,
) -> None:
    """Make an app for every branch pushed to the pipeline's repository (other than the deploy
    branches), from its app.json; deleting the branch destroys it."""
    body = ReviewAppConfigBody(
        repo=repo,
        automatic_review_apps=autodeploy,
        autodestroy=autodestroy,
        config_vars=_pairs(config),
    )
    made = api.enable(client(), pipeline, body)
    if as_json:
        print_json(made.model_dump(mode="json"))
        return
    when = f"{made.autodestroy_seconds // 3600} h" if made.autodestroy_seconds else "never"
    out.print(
        f"Review apps of {pipeline}: branches pushed to {made.repo.name}'s repository "
        f"({'deployed on push' if made.automatic_review_apps else 'reviewapps:create only'}; "
        f"destroyed after {when} without a deploy).",
        markup=False,
    )


@cli.command("reviewapps:disable")
@pipeline_option
def reviewapps_disable(pipeline: str) -> None:
    """Stop making review apps (existing ones stay until destroyed)."""
    api.disable(client(), pipeline)
    out.print(f"Review apps of {pipeline} are disabled.", markup=False)


@cli.command("reviewapps")
@pipeline_option
@json_option
def reviewapps_list(pipeline: str, as_json: bool) -> None:
    """List the pipeline's review apps."""
    found = api.listed(client(), pipeline)
    if as_json:
        print_json([r.model_dump(mode="json") for r in found])
        return
    table(
        ["app", "branch", "url", "deployed"],
        [(r.app.name, r.branch, r.web_url, r.updated_at) for r in found],
    )


@cli.command("reviewapps:create")
@click.argument("branch")
@pipeline_option
def reviewapps_create(branch: str, pipeline: str) -> None:
    """Make (or redeploy) the review app of BRANCH, already pushed to the repository."""
    c = client()
    made = api.create(c, pipeline, branch)
    if made.build:
        for line in output(c, made.app.name, made.build):
            out.print(line, markup=False, highlight=False)
    out.print(f"Review app {made.app.name}: {made.web_url}", markup=False)


@cli.command("reviewapps:destroy")
@click.argument("review_app")
def reviewapps_destroy(review_app: str) -> None:
    """Destroy a review app (its app name or id), with its add-ons and images."""
    gone = api.destroy(client(), review_app)
    out.print(f"Destroyed review app {gone.app.name}.", markup=False)
