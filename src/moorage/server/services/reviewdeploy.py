"""Making, deploying and removing review apps (the platform's work; ``reviewapps.py`` has
their rows).

A push of a branch (not a deploy branch) to the repository of a pipeline with review apps
makes ``<pipeline>-pr-<branch>`` the first time: an app coupled at stage ``review`` with the
repository app's process ports, ``app.json``'s ``env`` (secrets generated per app, required
ones from the pipeline's review-app config) and add-ons (``app.json``'s, else fresh ones of
the services the repository app has: a new empty database, never the staging one). Every
push builds the branch into it like ``git push``; after its first release ``app.json``'s
``scripts.postdeploy`` runs once as a one-off (seeding the database). Deleting the branch,
``reviewapps:destroy`` or the autodestroy timeout removes the app with its add-ons, images
and routes.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import BuildFailed, InvalidParams, NotFound
from moorage.schemas.builds import Build as BuildView
from moorage.schemas.releases import Release as ReleaseView
from moorage.server.services import (
    addons,
    apps,
    builds,
    config,
    dynos,
    events,
    releases,
    reviewapps,
)
from moorage.server.store.models import (
    AddonAttachment,
    App,
    Formation,
    Pipeline,
    PipelineCoupling,
    ReviewApp,
    ReviewAppConfig,
    User,
)
from moorage.spec.appjson import Template, parse_template, resolve_env

if TYPE_CHECKING:
    from moorage.server.platform import Platform

POSTDEPLOY_SECONDS = 900.0


def read_app_json(tar: Path) -> str:
    """``app.json`` at the root of the pushed tree ("" when there is none)."""
    try:
        with tarfile.open(tar) as t:
            member = next((m for m in t.getmembers() if m.name in ("app.json", "./app.json")), None)
            if member is None or not member.isfile():
                return ""
            if member.size > 1 << 20:
                raise InvalidParams("app.json is larger than 1 MiB.")
            f = t.extractfile(member)
            return f.read().decode() if f is not None else ""
    except (tarfile.TarError, UnicodeDecodeError) as exc:
        raise InvalidParams(f"The pushed tree's app.json cannot be read: {exc}") from exc


def deploy(
    platform: Platform, user: User, repo_app: str, branch: str, source: tuple[Path, str, str]
) -> tuple[BuildView, str]:
    """Build ``branch`` (the tree in ``tar``) into its review app, made first if needed;
    the build and the review app's URL. ``source``: the tar, its checksum, the commit."""
    tar, checksum, version = source
    made: list[ReleaseView] = []
    with platform.store.session() as s:
        repo = apps.get(s, user, repo_app)
        found = reviewapps.for_repo_app(s, repo)
        if found is None:
            raise NotFound(f"{repo.name}'s pipeline has no review apps. `moor reviewapps:enable`.")
        pipeline, cfg = found
        row = reviewapps.find(s, pipeline, branch)
        if row is None:
            template = parse_template(read_app_json(tar))
            row = _create(s, platform, user, (pipeline, cfg, repo), branch, template, made)
        row.deployed_at = datetime.now(UTC).replace(tzinfo=None)
        app = row.app
        build = builds.view(builds.create(s, app, user, checksum, version), app, user)
        name = app.name
    events.converge(platform)
    for r in made:
        events.announce(platform, r, user)
    platform.builder.submit(build.id, tar, name, version)
    return build, platform.settings.web_url(name)


def _create(
    s: Session,
    platform: Platform,
    user: User,
    where: tuple[Pipeline, ReviewAppConfig, App],
    branch: str,
    template: Template,
    made: list[ReleaseView],
) -> ReviewApp:
    pipeline, cfg, repo = where
    env, missing = resolve_env(template, dict(cfg.config or {}))
    if missing:
        raise InvalidParams(
            f"app.json requires {', '.join(missing)}, which the pipeline's review-app config "
            f"lacks: `moor reviewapps:enable -p {pipeline.name} --config {missing[0]}=...`."
        )
    app = apps.create(s, user, reviewapps.name_for(pipeline.name, branch))
    s.add(PipelineCoupling(pipeline_id=pipeline.id, app_id=app.id, stage="review"))
    ports = {  # `ps:port web 5000` of the repository app
        f.type: f.port for f in s.scalars(select(Formation).where(Formation.app_id == repo.id))
    }
    for ptype in {*(t for t, port in ports.items() if port), *template.formation}:
        quantity = template.formation.get(ptype, 1 if ptype == "web" else 0)
        s.add(Formation(app_id=app.id, type=ptype, quantity=quantity, port=ports.get(ptype)))
    plans = template.addons or [(a.addon.service, a.name) for a in _attached(s, repo)]
    for plan, as_name in plans:
        _, release = addons.create(s, app, user, plan, platform.providers, as_name=as_name or None)
        made.append(releases.view(release, release.version))
    changed = config.update(s, app, user, dict(env)) if env else None
    if changed is not None:
        made.append(releases.view(changed, changed.version))
    row = ReviewApp(
        pipeline_id=pipeline.id,
        app_id=app.id,
        branch=branch,
        postdeploy=template.postdeploy,
        creator_id=user.id,
    )
    s.add(row)
    s.flush()
    s.refresh(row)
    return row


def _attached(s: Session, repo: App) -> list[AddonAttachment]:
    """The repository app's attachments of its own add-ons."""
    return [a for a in addons.attachments_of(s, repo) if a.addon.app_id == repo.id]


Postdeploy = Callable[[User, str], list[str]]  # (pusher, app) -> lines for the build output


def postdeploy_with(platform: Platform) -> Postdeploy:
    """The builder's step after a release: a review app's first ``postdeploy``, once."""

    def run(user: User, app_name: str) -> list[str]:
        with platform.store.session() as s:
            row = s.scalar(select(ReviewApp).join(App).where(App.name == app_name))
            if row is None or not row.postdeploy or platform.sessions is None:
                return []
            command = row.postdeploy
            spec = dynos.oneoff_spec(s, row.app, command)
        dyno = platform.sessions.start_oneoff(spec)
        code = platform.sessions.runtime.wait_exit(dyno.id, POSTDEPLOY_SECONDS)
        if code != 0:
            raise BuildFailed(
                f"app.json's postdeploy `{command}` exited with status {code} (its output: "
                f"`moor logs -a {app_name} --dyno {spec.label}`); it runs again at the next push."
            )
        with platform.store.session() as s:
            done = s.scalar(select(ReviewApp).join(App).where(App.name == app_name))
            if done is not None:
                done.postdeploy = None
        return [f"=== postdeploy: {command}", f"{spec.label} exited with status 0"]

    return run
