"""Bad input at scale: schemathesis against the API's own ``/openapi.json``, in-process.

Every operation of ``create_app(platform)``'s served spec gets 100 generated requests
(hypothesis, derandomized: the same requests on every run), each with a valid Bearer token
and ``Accept: application/vnd.heroku+json; version=3``, over schemathesis's ASGI transport.
A request is schemathesis's own case (positive or negative data for the spec), then steered
(:func:`_steer`) so the fuzz reaches the handlers: path parameters are sometimes swapped for
ids of the seeded world (tests/badinput/conftest.py) and JSON bodies are sometimes replaced by
near-valid ones whose known fields carry hostile values. Each answer must pass:

- ``not_a_server_error``: no 5xx, whatever the input;
- ``status_code_conformance``: the status is documented for the operation;
- ``content_type_conformance``: the media type is the documented one;
- ``response_schema_conformance``: the body matches the documented schema (errors are
  ``{"id": ..., "message": ...}``).

Skipped operations (they cannot run in-process):

- ``GET /v2/{app}/{process_type}/manifests/{reference}``: a proxy to the live registry
  (the unit platform's registry is a fake without a manifest endpoint); covered by
  tests/integration against the real registry.

Reached only partly, on purpose: ``GET /log-sessions/{session_id}`` is fuzzed with random ids
and with fresh sessions without ``tail`` (a tail streams until the client leaves);
``GET /release-output/{release_id}/{signature}`` with bad signatures only (a good one streams
until the release is live, which needs the reconciler loop). The exec/attach WebSockets are
not in the OpenAPI spec; tests/unit/test_wsbridge.py covers them.

The summary line (operations, examples, failures) is what docs/reliability.md quotes; a
failure is reported once per operation and kind, with a curl line that reproduces it. No
shrinking; 100 examples per operation. In a full run, beside the other worker's tests, it
takes 400-580 s, most of it hypothesis generating and mutating cases (a profile: about a
third in the API calls).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from moorage.errors import InvalidParams
from moorage.server.routes.logs import SESSIONS
from tests.badinput.conftest import ACCEPT, APP, COLLABORATOR, OWNER, World

EXAMPLES = 100
SKIPPED = {
    "GET /v2/{app}/{process_type}/manifests/{reference}": "proxies to the live registry",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is recorded as met
    suppress_health_check=list(HealthCheck),
)

# -- hostile values -------------------------------------------------------------------------
NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "x" * 5000,
        "../../etc/passwd",
        "²",
        "٣",
        "\uff11\uff12",  # fullwidth digits
        "-1",
        "1e999",
        "99999999999999999999999999",
        "null",
        "\u202e",
        "💥",
        "%00",
        "a\nb",
        "sha256:",
        "sha256:" + "a" * 64,
        "v99999999999999999999",
        "web.²",
        "https://",
        "syslog://h:0",
        "[]",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 2**70])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | NASTY
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _ints(low: int, high: int) -> st.SearchStrategy[Any]:
    return st.integers(low, high) | st.integers(low, high).map(str)


PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["new-app", "fuzz-app", "ab", "A" * 40, "my-db-1", "DB_2"]),
    "plan": st.sampled_from(["postgresql", "redis", "heroku-postgresql:mini", "postgres", "x:y"]),
    "type": st.sampled_from(["web", "worker", "release", "run", "WEB", "a" * 40]),
    "quantity": _ints(-3, 200),
    "size": st.sampled_from(["basic", "Standard-1X", "standard-2x", "huge", "performance-l"]),
    "port": _ints(-1, 70000),
    "boot_timeout": _ints(-1, 4000),
    "docker_image": st.sampled_from(["sha256:" + "c" * 63 + "1", "sha256:zz", "latest"]),
    "command": st.text(max_size=40),
    "check_path": st.sampled_from(["/health", "health", "/" + "h" * 300]),
    "release": st.sampled_from(["v1", "1", "v2", "2", 1, 2**70, "v²"]),
    "url": st.sampled_from(
        ["https://drain.test/x", "syslog+tls://h.test:6514", "http://[::1", "ftp://h", "http://"]
    ),
    "at": st.sampled_from(["02:00 UTC", "25:00", "02:00 Mars/Olympus", "2:00 ../../etc/x"]),
    "keep": _ints(-1, 2000),
    "lines": _ints(-1, 20000),
    "tail": st.booleans(),
    "dyno": st.sampled_from(["web.1", "web", "x" * 50]),
    "source": st.sampled_from(["app", "router", "moorage", "nope"]),
    "hostname": st.sampled_from(["www.new.test", "www.fuzz.test", "a..b", "x" * 300, "one"]),
    "sni_endpoint": st.sampled_from([None, "fuzz-app-cert-1", "nope"]),
    "schedule": st.sampled_from(["*/5 * * * *", "61 * * * *", "* * * * * * *", "@hourly"]),
    "concurrency": st.sampled_from(["forbid", "allow", "sometimes"]),
    "user": st.sampled_from(["dave@example.test", OWNER, COLLABORATOR, {"email": "e@x.test"}]),
    "group": st.sampled_from(["shop", None, "Shop!", "a" * 70]),
    "aliases": st.lists(st.sampled_from(["carts", "carts.shop.local", "-x", "a" * 70]), max_size=3),
    "env": st.dictionaries(st.sampled_from(["A", "", "1X", "A=B", "PORT"]), SCALARS, max_size=3),
    "attach": st.booleans(),
    "addon": st.sampled_from(["DATABASE", f"{APP}::DATABASE", "nope"]),
    "app": st.sampled_from([APP, "fuzz-other", "nope"]),
    "backup": st.sampled_from(["b001", "b999", "b99999999"]),
    "confirm": st.sampled_from([APP, "other"]),
}
FORMATION_KEYS = ("type", "quantity", "size", "port", "docker_image", "command", "check_path")
BODY_KEYS: dict[str, tuple[str, ...]] = {
    "POST /apps": ("name",),
    "PATCH /apps/{ident}": ("moorage",),
    "POST /apps/{ident}/collaborators": ("user",),
    "PATCH /apps/{ident}/formation": ("updates",),
    "PATCH /apps/{ident}/formation/{ptype}": (*FORMATION_KEYS, "boot_timeout"),
    "POST /apps/{ident}/releases": ("release",),
    "POST /apps/{ident}/dynos": ("command", "env", "attach", "size"),
    "POST /apps/{ident}/addons": ("plan", "name", "attachment"),
    "POST /addon-attachments": ("addon", "app", "name"),
    "POST /apps/{ident}/addons/{addon}/actions/psql": ("command",),
    "POST /apps/{ident}/addons/{addon}/actions/restore": ("url", "backup", "confirm"),
    "PUT /apps/{ident}/addons/{addon}/backup-schedule": ("at", "keep"),
    "POST /apps/{ident}/log-sessions": ("lines", "tail", "dyno", "source"),
    "POST /apps/{ident}/log-drains": ("url",),
    "POST /apps/{ident}/domains": ("hostname", "sni_endpoint"),
    "PATCH /apps/{ident}/domains/{domain}": ("sni_endpoint",),
    "POST /apps/{ident}/sni-endpoints": ("certificate_chain", "private_key"),
    "PATCH /apps/{ident}/sni-endpoints/{name}": ("certificate_chain", "private_key"),
    "POST /apps/{ident}/schedules": ("schedule", "command", "size", "concurrency"),
}
CONFIG_KEYS = st.sampled_from(["GREETING", "A_B", "PORT", "DYNO", "1X", "", "A-B", "K" * 300])


def _value(key: str, world: World) -> st.SearchStrategy[Any]:
    """What a handler reading ``key`` may meet: plausible, hostile or any JSON."""
    if key == "updates":
        return st.lists(_fields(FORMATION_KEYS, world), max_size=3) | JSON
    if key == "moorage":
        return _fields(("group", "aliases"), world) | JSON
    if key == "attachment":
        return _fields(("name",), world) | JSON
    if key in ("certificate_chain", "private_key"):
        pem = world.cert[key]
        return st.sampled_from([pem, pem[:40], pem.replace("A", "B", 1), pem * 2]) | JSON
    plausible = PLAUSIBLE.get(key, st.nothing())
    return st.one_of(plausible, plausible, plausible, NASTY, JSON)


def _fields(keys: tuple[str, ...], world: World) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: _value(k, world) for k in keys})


def _body(label: str, world: World) -> st.SearchStrategy[Any] | None:
    if label == "PATCH /apps/{ident}/config-vars":
        return st.dictionaries(CONFIG_KEYS, st.none() | st.text(max_size=10) | NASTY | JSON)
    keys = BODY_KEYS.get(label)
    return _fields(keys, world) if keys else None


# -- the run --------------------------------------------------------------------------------
@dataclass
class Tally:
    """What the run met; ``failures`` keeps the first example of each distinct failure."""

    operations: int = 0
    examples: int = 0
    server_errors: int = 0
    violations: int = 0
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    per_operation: Counter[str] = field(default_factory=Counter)

    def crash(self, label: str, exc: Exception, curl: str) -> None:
        self.server_errors += 1
        self.statuses[500] += 1
        kind = f"500 {type(exc).__name__}: {exc}"[:160]
        self.failures.setdefault((label, kind), curl)

    def record(self, label: str, group: FailureGroup) -> None:
        for failure in group.exceptions:
            if "not_a_server_error" in getattr(failure, "checks", ()):
                self.server_errors += 1
            else:
                self.violations += 1
            kind = f"{getattr(failure, 'code', '')} {getattr(failure, 'title', failure)}"
            self.failures.setdefault((label, kind[:160]), str(group)[:1500])

    def summary(self, seconds: float) -> str:
        return (
            f"openapi fuzz: {self.operations} operations, {self.examples} examples, "
            f"{self.server_errors} server errors, {self.violations} schema violations, "
            f"{len(self.failures)} distinct failures, {len(SKIPPED)} skipped, {seconds:.0f}s; "
            f"statuses {dict(sorted(self.statuses.items()))}"
        )


def _steer(world: World, case: Case, data: st.DataObject, label: str) -> None:
    """Aim most cases at the seeded world (its ids, near-valid bodies); add stray query
    parameters, which the API must ignore, so even parameterless operations vary."""
    aimed = data.draw(st.sampled_from([True, True, True, False]), label="aimed")
    for name in case.path_parameters or {}:
        values = world.path_values(name)
        if values and (aimed or data.draw(st.booleans(), label=f"seeded {name}")):
            case.path_parameters[name] = data.draw(st.sampled_from(values), label=name)
    if label == "GET /log-sessions/{session_id}" and aimed:
        body = data.draw(_fields(("lines", "dyno", "source"), world), label="log session")
        with contextlib.suppress(InvalidParams):  # an invalid one: the random id stays
            session = SESSIONS.create(APP, "fuzz-app-id", "fuzz-user-id", body)
            case.path_parameters["session_id"] = session.id
    body = _body(label, world)
    if body is not None and data.draw(st.booleans(), label="near-valid body"):
        case.body = data.draw(body, label="body")
        case.media_type = "application/json"
    stray = data.draw(
        st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=2)
    )
    case.query = {**stray, **(case.query or {})}


def _fuzz(world: World, operation: APIOperation, tally: Tally) -> None:
    label = operation.label
    strategy = operation.as_strategy(GenerationMode.POSITIVE)
    if list(operation.query):  # typed query parameters: also values their schema forbids
        strategy |= operation.as_strategy(GenerationMode.NEGATIVE)

    @FUZZ
    @given(case=strategy, data=st.data())
    def run(case: Case, data: st.DataObject) -> None:
        _steer(world, case, data, label)
        who = data.draw(st.sampled_from([OWNER, OWNER, COLLABORATOR]), label="user")
        headers = {"Authorization": f"Bearer {world.tokens[who]}", "Accept": ACCEPT}
        tally.examples += 1
        tally.per_operation[label] += 1
        try:
            response = case.call(headers=headers, timeout=10)
        except Exception as exc:  # the app raised: Starlette answered 500, then re-raised it
            tally.crash(label, exc, case.as_curl_command(headers=headers))
            return
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            tally.record(label, group)
        if response.status_code < 300:
            world.repair(label)

    run()
    tally.operations += 1


def test_every_operation_survives_bad_input(world: World, capsys: Any) -> None:
    started = time.monotonic()
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label not in SKIPPED:
            _fuzz(world, operation, tally)
    line = tally.summary(time.monotonic() - started)
    with capsys.disabled():
        print("\n" + line)
    report = "\n\n".join(
        f"== {op}: {kind}\n{first}" for (op, kind), first in tally.failures.items()
    )
    assert not tally.failures, f"{line}\n\n{report}"
    assert min(tally.per_operation.values()) >= EXAMPLES, tally.per_operation


# -- what the fuzz found, pinned --------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/addon-attachments", '{"addon": "db", "app": "\\ud800"}', "body.app"),
        ("POST", "/apps/fuzz-app/releases", '{"release": "\\udfff"}', "body.release"),
        ("PATCH", "/apps/fuzz-app/config-vars", '{"\\ud800K": "1"}', "key of"),
        ("POST", "/apps/fuzz-app/schedules", '{"command": ["\\ud83d"]}', "command[0]"),
    ],
)
def test_lone_surrogates_are_refused_at_the_edge(
    world: World, method: str, path: str, body: str, where: str
) -> None:
    """JSON may escape half a UTF-16 pair; no database takes it. A whole pair is text."""
    api = world.client()
    resp = api.request(method, path, content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert "lone UTF-16 surrogate" in resp.json()["message"] and where in resp.json()["message"]
    pair = api.patch(
        "/apps/fuzz-app/config-vars",
        content='{"EMOJI": "\\ud83d\\ude00"}',
        headers={"content-type": "application/json"},
    )
    assert pair.status_code == 200 and pair.json()["EMOJI"] == "\U0001f600"


@pytest.mark.parametrize(
    ("method", "path", "query", "status"),
    [
        ("GET", "/release-output/x/%C3%A9", "", 404),  # a non-ASCII signature
        ("POST", "/apps/fuzz-app/releases", "v\u00b2", 404),  # a superscript digit
        ("POST", "/apps/fuzz-app/releases", "99999999999999999999999", 404),
        ("PATCH", "/apps/fuzz-app/formation/release", "", 422),  # a phase, not a formation
        ("POST", "/apps/fuzz-app/dynos", "", 422),  # size: a list
    ],
)
def test_crashes_the_fuzz_found_answer_4xx(
    world: World, method: str, path: str, query: str, status: int
) -> None:
    api = world.client()
    bodies = {
        "POST /apps/fuzz-app/releases": {"release": query},
        "POST /apps/fuzz-app/dynos": {"command": "x", "size": ["basic"]},
    }
    resp = api.request(method, path, json=bodies.get(f"{method} {path}", {}))
    assert resp.status_code == status, resp.text
    assert resp.json()["id"] in ("not_found", "invalid_params")
