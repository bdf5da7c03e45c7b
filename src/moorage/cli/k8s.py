"""k8s:convert and k8s:import: a Kubernetes app (YAML, kustomize, Helm) as Moorage apps."""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from moorage.cli.base import cli, client, err, out, print_json
from moorage.cli.k8sapi import current, run
from moorage.client.api import Client
from moorage.convert.importer import (
    Step,
    addon_owners,
    foreign,
    plan_app,
    shared_values,
)
from moorage.convert.model import Conversion
from moorage.errors import Conflict, MoorageError, NotFound
from moorage.schemas.images import ImageUpdate
from moorage.spec.names import validate_app_name


def _inputs(body: Any) -> Any:
    """The input options of both commands; the command gets the ``conv`` they describe."""

    @functools.wraps(body)
    def command(**kw: Any) -> Any:
        keys = ("paths", "values", "set_values", "release", "app", "group", "prefix")
        return body(conv=_convert(*[kw.pop(k) for k in keys]), **kw)

    f: Any = command
    for option in reversed(
        [
            click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True)),
            click.option(
                "--values",
                "values",
                multiple=True,
                type=click.Path(exists=True),
                help="Helm values file (repeatable).",
            ),
            click.option("--set", "set_values", multiple=True, help="Helm value k=v."),
            click.option(
                "--release", default="release", show_default=True, help="Helm release name."
            ),
            click.option("-a", "--app", "app", default=None, help="Name of the app (one app)."),
            click.option("--group", default=None, help="Group of the apps (several apps)."),
            click.option("--prefix", default=None, help="Name every app PREFIX-<name>."),
        ]
    ):
        f = option(f)
    return f


def _convert(
    paths: tuple[str, ...],
    values: tuple[str, ...],
    set_values: tuple[str, ...],
    release: str,
    app: str | None,
    group: str | None,
    prefix: str | None,
) -> Conversion:
    from moorage.convert.load import load
    from moorage.convert.output import render_findings
    from moorage.convert.plan import convert

    objects, found = load(
        [Path(p) for p in paths],
        values=[Path(v) for v in values],
        set_values=list(set_values),
        release=release,
    )
    conv = convert(objects, found, app=app, group=group, folder=_folder(Path(paths[0])))
    if prefix:
        for plan in conv.apps:
            plan.name = validate_app_name(f"{prefix}-{plan.name}")
    conv.origin = import_origin([Path(p) for p in paths])
    if conv.findings:
        err.print(render_findings(conv.findings), markup=False, highlight=False)
    return conv


@cli.command("k8s:convert")
@_inputs
@click.option(
    "-o",
    "--out",
    "out_dir",
    default="moorage-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where to write the files.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the conversion as JSON.")
def k8s_convert(conv: Conversion, out_dir: str, as_json: bool) -> None:
    """Convert Kubernetes manifests, kustomize folders or Helm charts into heroku.yml,
    app.json, Procfile, a Moorage app spec and REPORT.md per app. Exit 1 when findings of
    level error need your action, 2 when the input is unusable."""
    from moorage.convert.output import to_json, write

    written = write(conv, Path(out_dir))
    if as_json:
        print_json(to_json(conv))
    else:
        out.print(
            f"Converted {len(conv.objects)} objects into {len(conv.apps)} app(s): "
            f"{', '.join(a.name for a in conv.apps)}; wrote {len(written)} files to {out_dir}"
        )
    if any(f.severity == "error" for f in conv.findings):
        sys.exit(1)


def _folder(path: Path) -> str:
    """The input's folder name, above folders named for their role (spec, k8s, chart...)."""
    from moorage.convert.plan import GENERIC_DIRS

    folder = path.resolve() if path.is_dir() else path.resolve().parent
    for candidate in (folder, *folder.parents):
        if candidate.name and candidate.name not in GENERIC_DIRS:
            return candidate.name
    return folder.name or "apps"


def import_origin(paths: list[Path]) -> str:
    """The identity of an import: its input paths (so re-running it from anywhere matches)."""
    joined = "\n".join(sorted(str(p.resolve()) for p in paths))
    return "k8s:" + hashlib.sha256(joined.encode()).hexdigest()[:12]


def _plan(c: Client, conv: Conversion, images: bool) -> dict[str, list[Step]]:
    group = conv.group  # several apps always have one; a single app only when asked (--group)
    owners = addon_owners(conv.apps)
    currents = {plan.name: current(c, plan.name) for plan in conv.apps}
    shared = shared_values(conv.apps, currents)
    return {
        plan.name: plan_app(plan, currents[plan.name], group, owners, images, shared, conv.origin)
        for plan in conv.apps
    }


def _refuse_foreign(c: Client, conv: Conversion, dry_run: bool) -> None:
    """An import changes an app it did not make only with --adopt."""
    found = foreign({p.name: current(c, p.name) for p in conv.apps}, conv.origin)
    if not found:
        return
    message = (
        f"These apps exist and this import did not make them: {'; '.join(found)}. Rerun with "
        "--adopt to change them, or with --prefix P to import next to them as P-<name>."
    )
    if dry_run:
        err.print(message, markup=False)
        return
    raise Conflict(message)


@cli.command("k8s:import")
@_inputs
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option(
    "--build",
    "build_dir",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="Build the processes from this source folder (container:push) instead of "
    "releasing the manifests' images.",
)
@click.option("--adopt", is_flag=True, help="Change existing apps this import did not make.")
def k8s_import(conv: Conversion, dry_run: bool, build_dir: str | None, adopt: bool) -> None:
    """Create the apps, config vars, add-ons, formation, group and schedules that the
    manifests describe, through the API, and release the images the manifests name. It
    shows the plan first and is idempotent: a second run changes nothing."""
    c = client()
    images = build_dir is None
    plans = _plan(c, conv, images)
    if not any(plans.values()):
        out.print("Nothing to change: the platform already matches the manifests.")
        return
    for name, steps in plans.items():
        out.print(f"[bold]{name}[/bold]: " + ("no change" if not steps else ""))
        for step in steps:
            out.print(f"  • {step.what}")
    if not adopt:
        _refuse_foreign(c, conv, dry_run)
    if dry_run:
        out.print("Dry run: nothing was changed.")
        return
    plans = _plan(c, conv, images=False)
    for _ in range(2):  # the second pass sets the vars computed from new add-on URLs
        for steps in plans.values():
            for step in steps:
                run(c, step)
        plans = _plan(c, conv, images=False)
        if not any(plans.values()):
            break
    if images:  # once the config is complete, so the first dynos start with all of it
        _release_images(c, conv)
    _next_steps(conv, build_dir)
    left = _plan(c, conv, images)
    if any(left.values()):
        err.print(json.dumps({k: [s.what for s in v] for k, v in left.items() if v}))


def _release_images(c: Client, conv: Conversion) -> None:
    """Private apps first (the services others need at start), then the public ones; a
    release that fails (a dyno that exits while a service it needs is not up yet, as a pod
    would crash-loop on Kubernetes) is tried once more after the others."""
    from moorage.cli.images import release_images

    private = {p.name for p in conv.apps if p.private}
    plans = _plan(c, conv, images=True)
    order = sorted(plans, key=lambda name: name not in private)
    failed: list[tuple[str, Step, MoorageError]] = []
    for name in order:
        for step in plans[name]:
            out.print(f"[bold]{name}[/bold]: {step.what}")
            try:
                release_images(c, name, _image_updates(step), timeout=3600)
            except MoorageError as exc:
                failed.append((name, step, exc))
    for name, step, first in failed:
        out.print(f"[bold]{name}[/bold]: {step.what}, again ({first.message})")
        release_images(c, name, _image_updates(step), timeout=3600)


def _image_updates(step: Step) -> list[ImageUpdate]:
    return [ImageUpdate.model_validate(u) for u in step.body["updates"]]


def _next_steps(conv: Conversion, build_dir: str | None) -> None:
    for plan in conv.apps:
        built = sorted(p.type for p in plan.processes if build_dir or not p.image)
        if not built:
            out.print(f"Imported {plan.name}.")
            continue
        types, ctx = " ".join(built), f" --context {build_dir}" if build_dir else ""
        out.print(
            f"Imported {plan.name}. Next: moor container:push {types} -a {plan.name}{ctx}"
            f" && moor container:release {types} -a {plan.name}"
        )


@cli.command("doctor")
@click.argument("path", default=".", type=click.Path(exists=True))
def doctor(path: str) -> None:
    """Check the Dockerfiles in PATH (or one Dockerfile): what the platform does about a
    start command that ignores $PORT, a missing EXPOSE, or running as root."""
    from moorage.convert.dockerfile import check

    target = Path(path)
    files = [target] if target.is_file() else sorted(target.glob("Dockerfile*"))
    if not files:
        raise NotFound(f"No Dockerfile in {path}.")
    for f in files:
        checks = check(f.read_text(errors="replace"))
        out.print(f"[bold]{f}[/bold]: " + ("nothing to report" if not checks else ""))
        for c in checks:
            out.print(
                f"  {c.severity}: line {c.line}: {c.what}\n    the platform: {c.platform_does}"
            )
