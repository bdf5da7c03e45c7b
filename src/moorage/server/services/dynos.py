"""Dynos: how the API shows them, restarts (a generation bump the reconciler rolls out)
and one-off dyno specs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from moorage.errors import InvalidParams, NotFound
from moorage.schemas import releases as shapes
from moorage.schemas.base import Ref
from moorage.server.services import releases
from moorage.server.store.models import App
from moorage.spec.dyno import DEFAULT_PIDS_LIMIT, SIZES, Dyno, OneOffSpec, command_argv
from moorage.spec.status import DynoState

ONEOFF_TYPES = ("run", "scheduler")


def view(d: Dyno, app: App) -> shapes.Dyno:
    """Heroku's ``dyno``: ``name`` is ``web.1``; its size and command are the formation's
    when it has one. On a swarm, ``node`` (an extra key, absent on one host) names the node
    it runs on."""
    formation = {f.type: f for f in app.formations}.get(d.type)
    started = d.started_at[:4].isdigit() and not d.started_at.startswith("0001")  # 0001: never
    extra = {"node": d.node} if d.node else {}
    return shapes.Dyno(
        id=d.id,
        name=d.label,
        type=d.type,
        state=_state(d.state),
        app=Ref.of(app),
        release=shapes.ReleaseVersion(version=d.release),
        size=formation.size if formation else "basic",
        command=(formation.command if formation else None) or d.command,
        created_at=d.created_at,
        updated_at=d.started_at[:19] + "Z" if started else d.created_at,
        attach_url=None,
        exit_code=d.exit_code,
        oom_killed=d.oom_killed,
        restart_count=d.restart_count,
        **extra,
    )


def _state(state: str) -> DynoState | str:
    try:
        return DynoState(state)
    except ValueError:  # a state a newer runtime reports: shown as given
        return state


def find(dynos: list[Dyno], name: str) -> Dyno | None:
    """The dyno called ``name`` (``web.1``) or with that id."""
    return next((d for d in dynos if d.label == name or d.id == name), None)


def restart(app: App, target: str | None) -> list[str]:
    """Bump the restart generation of every type, one type (``web``) or one dyno (``web.2``).

    The reconciler replaces those dynos through the zero-downtime path. Returns what restarts.
    """
    types = {f.type: f for f in app.formations}
    gens = {k: int(v) for k, v in (app.restarts or {}).items()}
    if target is None:
        keys = sorted(types)
    elif "." in target:
        ptype, _, number = target.partition(".")
        if ptype not in types or not number.isdigit() or int(number) > types[ptype].quantity:
            raise NotFound(f"No dyno {target} in {app.name}. See `moor ps -a {app.name}`.")
        keys = [target]
    elif target in types:
        keys = [target]
    else:
        raise NotFound(
            f"Couldn't find that process type ({target}) for {app.name}. "
            f"It has: {', '.join(sorted(types)) or 'none'}."
        )
    for key in keys:
        gens[key] = gens.get(key, 0) + 1
    app.restarts = gens
    return keys


def oneoff_spec(
    session: Session,
    app: App,
    command: str,
    *,
    ptype: str = "run",
    size: str | None = None,
    env: dict[str, str] | None = None,
    attach: bool = False,
    tty: bool | None = None,
    argv: list[str] | None = None,
    image: str | None = None,
) -> OneOffSpec:
    """A one-off dyno ``<ptype>.N`` from the current release's web image and config.

    ``argv`` (instead of ``command``) runs exactly those arguments; ``image`` replaces the
    release's image (``pg:psql`` runs the stack image, which has psql).
    """
    if ptype not in ONEOFF_TYPES:
        raise InvalidParams(f"One-off dynos are of type run or scheduler, not {ptype!r}.")
    argv = argv or (command_argv(command) if command.strip() else [])
    if not argv:
        raise InvalidParams("Give the command to run, e.g. `moor run -a APP -- python manage.py`.")
    size_name = size or "basic"
    if size_name not in SIZES:
        raise InvalidParams(f"Unknown dyno size {size_name!r}; choose one of {', '.join(SIZES)}.")
    rel = releases.current(session, app)
    if image is None and rel is not None:
        image = rel.images.get("web") or next(iter(rel.images.values()), None)
    if image is None:
        raise InvalidParams(
            f"{app.name} has no release with an image yet. Push and release one first: "
            f"`moor container:push web -a {app.name}`, "
            f"then `moor container:release web -a {app.name}`."
        )
    app.oneoff_seq = (app.oneoff_seq or 0) + 1
    number = app.oneoff_seq
    spec_size = SIZES[size_name]
    return OneOffSpec(
        app=app.name,
        type=ptype,
        number=number,
        release=rel.version if rel else 0,
        image=image,
        env={**(rel.config if rel else app.config), **(env or {}), "DYNO": f"{ptype}.{number}"},
        command=argv,
        memory_mb=spec_size.memory_mb,
        cpus=spec_size.cpus,
        pids_limit=DEFAULT_PIDS_LIMIT,
        attach=attach,
        tty=attach if tty is None else tty,
        group=app.group,
    )
