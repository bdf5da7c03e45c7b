"""What ``k8s:import`` reads from the platform and how it carries out a step, through the
typed client: :func:`current` (an app as the API reports it) and :func:`run` (one
:class:`~moorage.convert.importer.Step`)."""

from __future__ import annotations

from typing import Any

from moorage.client import addons, apps, config, domains, formation, images, releases
from moorage.client import schedules as scheduling
from moorage.client import volumes as storage
from moorage.client.api import Client
from moorage.convert.importer import Act, Current, Step
from moorage.errors import NotFound
from moorage.schemas.releases import FormationUpdate, Release
from moorage.spec.status import ReleaseStatus


def current(c: Client, app: str) -> Current:
    """``app`` as the platform has it (``Current()`` when there is no such app)."""
    try:
        info = apps.app(c, app)
    except NotFound:
        return Current()
    newest = _newest_release(c, app)
    return Current(
        exists=True,
        config=config.config_vars(c, app),
        attachments=[a.name for a in addons.attachments(c, app)],
        formation={f.type: f.model_dump(mode="json") for f in formation.formation(c, app)},
        schedules=[(s.schedule, s.command) for s in scheduling.schedules(c, app)],
        group=info.moorage.group,
        aliases=list(info.moorage.aliases or []),
        origin=info.moorage.origin,
        private=bool(info.internal_routing),
        domains=[d.hostname for d in domains.domains(c, app)],
        release_command=newest.release_command if newest else None,
        image_sources=dict(newest.moorage.image_sources) if newest else {},
        registry_logins={r.host: r.username for r in images.registry_logins(c, app)},
        volumes={v.name: (v.process_type, v.path) for v in storage.volumes(c, app)},
    )


def _newest_release(c: Client, app: str) -> Release | None:
    """The app's newest release that did not fail (None before any)."""
    made = [r for r in releases.releases(c, app) if r.status != ReleaseStatus.FAILED]
    return max(made, key=lambda r: r.version, default=None)


def run(c: Client, step: Step) -> None:
    """Carry out ``step`` (every kind but RELEASE_IMAGES, which the import runs last and
    waits for: see ``cli.images.release_images``)."""
    app, body = step.app, step.body
    match step.act:
        case Act.CREATE_APP:
            origin = (body.get("moorage") or {}).get("origin")
            apps.create(c, app, private=bool(body.get("internal_routing")), origin=origin)
        case Act.ADOPT_APP:
            apps.adopt(c, app, body["moorage"]["origin"])
        case Act.SET_PRIVATE:
            apps.set_private(c, app, bool(body["internal_routing"]))
        case Act.JOIN_GROUP:
            apps.join(c, app, body["moorage"]["group"], list(body["moorage"]["aliases"]))
        case Act.CREATE_ADDON:
            addons.addon_create(c, app, body["plan"], as_name=body["attachment"]["name"], name=None)
        case Act.ATTACH_ADDON:
            addons.attach(c, body["addon"], app, body["name"])
        case Act.SET_CONFIG:
            config.update_config(c, app, body)
        case Act.FORMATION:
            formation.update(c, app, _updates(body))
        case Act.CREATE_VOLUME:
            storage.volume_create(
                c, app, body["name"], body["size"],
                process_type=body["process_type"], mount_path=body["path"],
            )  # fmt: skip
        case Act.MOUNT_VOLUME:
            storage.volume_mount(c, app, step.key, body["path"], body["process_type"])
        case Act.REGISTRY_LOGIN:
            images.registry_login(c, app, step.key, body["username"], body["password"])
        case Act.ADD_DOMAIN:
            domains.add_domain(c, app, body["hostname"])
        case Act.ADD_SCHEDULE:
            scheduling.schedule_add(c, app, body["schedule"], body["command"])
        case Act.RELEASE_IMAGES:
            raise ValueError("image releases are run by k8s:import itself, last")


def _updates(body: dict[str, Any]) -> list[FormationUpdate]:
    return [FormationUpdate.model_validate(u) for u in body["updates"]]
