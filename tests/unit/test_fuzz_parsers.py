"""Property-based tests of every parser of user input.

The contract each parser is held to: for ANY input it returns a valid result or raises a
:class:`MoorageError` (the documented subclass) with a non-empty message; never another
exception, never a hang. Where a parser has a round trip or an invariant, it is asserted
too, and where one parser's output is another's input (a Procfile the converter writes, a
formation update the CLI sends), the second must accept what the first produced.

Every test runs derandomized (the same examples on every run) so that CI is reproducible.
"""

from __future__ import annotations

import copy
import functools
import json
import shlex
import string
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from moorage.convert.dockerfile import Check, check
from moorage.convert.importer import Current, addon_owners, plan_app
from moorage.convert.load import load
from moorage.convert.model import Conversion
from moorage.convert.output import render_findings, to_json, write
from moorage.convert.plan import convert
from moorage.errors import InvalidConfigKey, InvalidName, InvalidParams, MoorageError
from moorage.logs.format import SOURCES, LogLine, parse, split_message
from moorage.logs.routerfiles import line_object, render
from moorage.server.http import ranges
from moorage.server.services import config, formation
from moorage.server.services.backups import parse_at
from moorage.server.services.logsessions import MAX_LINES, LogSessions
from moorage.spec.dyno import (
    DYNO_SIZES,
    MAX_QUANTITY,
    command_argv,
    validate_check_path,
    validate_command,
)
from moorage.spec.manifests import AppManifest, parse_app_json, parse_heroku_yml, parse_procfile
from moorage.spec.names import (
    validate_app_name,
    validate_config_key,
    validate_config_value,
    validate_dns_label,
    validate_process_type,
)

FUZZ = settings(max_examples=200, deadline=None, derandomize=True)
# Writing temporary files and converting whole manifests is slower than hypothesis' default
# budget for generating one example; the examples are still small.
SLOW_FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

T = TypeVar("T")

# --- shared strategies ------------------------------------------------------------------

# Every code point, lone surrogates included (JSON's "\ud800" escapes produce them).
ANY_CHAR = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=80)
HUGE_DIGITS = "9" * 5000
ODD_NUMBERS = st.sampled_from([0, -1, 1, 65535, 65536, 2**31, 2**63, 10**30, 10**400])
TOO_LONG_FOR_REPR = 10**5000  # no JSON or YAML text holds it; Python callers might
ODD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "80",
        "0080",
        "²",
        "٣",
        "1e400",
        "nan",
        HUGE_DIGITS,
        "\x00",
        "\ud800",
        "\u2028",
        "web",
        "http",
        "sha256:",
        "Standard-1X",
        "/",
        "/health",
        '"',
        "'",
        "$(FOO)",
        "${PORT}",
        "/é",
        "/a b",
        "health",
        "echo 'x",
        "x" * 5000,
        "svc:" + HUGE_DIGITS,
        "web:" + HUGE_DIGITS,
        "web:²",
    ]
)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    ODD_NUMBERS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    ODD_STRINGS,
)
JSONISH = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def outcome(
    parser: Callable[..., T], *args: Any, errors: tuple[type[MoorageError], ...] = (MoorageError,)
) -> T | None:
    """``parser(*args)``, or None when it raised one of ``errors`` with a message."""
    try:
        return parser(*args)
    except errors as exc:
        message = str(exc)
        assert message.strip(), f"{type(exc).__name__} without a message"
        assert exc.message == message
        return None


# --- Procfile, heroku.yml, app.json -----------------------------------------------------

PROCFILE_TOKENS = st.sampled_from(
    [
        "web",
        "worker",
        "release",
        "Web",
        "w_1",
        ":",
        ": ",
        " ",
        "\n",
        "\r\n",
        "#",
        "\t",
        "echo hi",
        "'",
        '"',
        "$PORT",
        "&&",
        "\x00",
        "\u2028",
        "\x85",
        "é",
        "x" * 50,
    ]
)
PROCFILEISH = st.lists(PROCFILE_TOKENS, max_size=30).map("".join)


def command_ok_for_server(ptype: str, command: str) -> None:
    """What a manifest parser accepted, the formation API accepts (the CLI sends it there)."""
    update = formation.parse_update({"type": ptype, "command": command})
    assert update.command == command
    command_argv(command)


def check_manifest(m: AppManifest) -> None:
    for ptype, command in m.commands.items():
        assert validate_process_type(ptype) == ptype
        assert command and command == command.strip()
        command_ok_for_server(ptype, command)
    if m.release_command is not None:
        command_ok_for_server("release", m.release_command)
    for ptype, path in m.check_paths.items():
        validate_process_type(ptype)
        assert formation.parse_update({"type": ptype, "check_path": path}).check_path == path


@FUZZ
@given(st.one_of(ANY_TEXT, PROCFILEISH))
@example("web: echo 'unbalanced")
@example("web: run\x00me")
def test_procfile_any_text(text: str) -> None:
    m = outcome(parse_procfile, text, errors=(InvalidParams,))
    if m is not None:
        check_manifest(m)
        assert "release" not in m.commands  # release: is the release phase


PROCESS_TYPE = st.from_regex(r"[a-z][a-z0-9_-]{0,29}", fullmatch=True).filter(
    lambda t: t != "release"
)
PLAIN_COMMAND = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40
).map(str.strip)


@FUZZ
@given(st.dictionaries(PROCESS_TYPE, PLAIN_COMMAND.filter(bool), max_size=5))
def test_procfile_round_trip(commands: dict[str, str]) -> None:
    balanced = {t: c for t, c in commands.items() if _balanced(c)}
    text = "".join(f"{t}: {c}\n" for t, c in balanced.items())
    assert parse_procfile(text).commands == balanced


def _balanced(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


HEROKU_YML = st.one_of(
    ANY_TEXT,
    JSONISH.map(lambda doc: yaml.safe_dump(doc)),
    st.fixed_dictionaries(
        {},
        optional={
            "run": st.one_of(JSONISH, st.dictionaries(st.text(max_size=8), JSONISH, max_size=3)),
            "release": st.one_of(
                JSONISH, st.fixed_dictionaries({"command": JSONISH, "image": JSONISH})
            ),
        },
    ).map(lambda doc: yaml.safe_dump(doc)),
)


@FUZZ
@given(HEROKU_YML)
@example("[" * 5000)
@example('run: {web: "echo \'"}')
@example('run: {web: ["a\\0b"]}')
@example("run: {release: migrate}")
def test_heroku_yml_any_text(text: str) -> None:
    m = outcome(parse_heroku_yml, text, errors=(InvalidParams,))
    if m is not None:
        check_manifest(m)
        assert all(isinstance(i, str) for i in m.images.values())


@FUZZ
@given(
    st.one_of(
        ANY_TEXT,
        JSONISH.map(json.dumps),
        st.dictionaries(
            st.text(max_size=8),
            st.lists(
                st.fixed_dictionaries({"path": st.one_of(JSONISH, st.text().map("/".__add__))})
            ),
            max_size=3,
        ).map(lambda checks: json.dumps({"healthchecks": checks})),
    )
)
@example("[" * 100_000)
@example('{"healthchecks": {"web": [{"path": "/\\u00e9"}]}}')
@example('{"healthchecks": {"web": [{"path": "/a b"}]}}')
def test_app_json_any_text(text: str) -> None:
    m = outcome(parse_app_json, text, errors=(InvalidParams,))
    if m is not None:
        check_manifest(m)


# --- names ------------------------------------------------------------------------------

NAME_VALIDATORS: list[tuple[Callable[[str], str], type[MoorageError]]] = [
    (validate_app_name, InvalidName),
    (validate_process_type, InvalidName),
    (validate_config_key, InvalidConfigKey),
    (lambda n: validate_dns_label(n, "Group"), InvalidName),
    (lambda n: validate_dns_label(n, "Alias", dots=True), InvalidName),
]
NAMEISH = st.one_of(
    ANY_TEXT,
    st.text(string.ascii_letters + string.digits + "-_.", max_size=70),
    st.from_regex(r"[a-z][a-z0-9-]{2,29}", fullmatch=True),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True),
)


@FUZZ
@given(NAMEISH, st.sampled_from(range(len(NAME_VALIDATORS))))
@example("abc\n", 0)
@example("web\n", 1)
@example("PORT", 2)
def test_names_accept_or_refuse_and_are_stable(name: str, which: int) -> None:
    validator, error = NAME_VALIDATORS[which]
    accepted = outcome(validator, name, errors=(error,))
    if accepted is None:
        return
    assert accepted == name
    assert validator(accepted) == accepted  # accepted names are accepted again, unchanged
    assert name.isascii() and name.isprintable() and name.strip() == name


@FUZZ
@given(st.from_regex(r"[a-z][a-z0-9-]{1,28}[a-z0-9]", fullmatch=True))
def test_every_name_of_the_documented_rule_is_an_app_name(name: str) -> None:
    assert validate_app_name(name) == name


@FUZZ
@given(NAMEISH, st.one_of(ANY_TEXT, st.sampled_from(["x" * (32 * 1024), "é" * 16 * 1024 + "x"])))
@example("KEY", "\ud800")
def test_config_value_any_text(key: str, value: str) -> None:
    accepted = outcome(validate_config_value, key, value, errors=(InvalidParams,))
    if accepted is not None:
        assert accepted == value and "\x00" not in value
        assert len(value.encode("utf-8")) <= 32 * 1024


# --- config vars PATCH body -------------------------------------------------------------


@FUZZ
@given(
    st.one_of(
        JSONISH,
        st.dictionaries(NAMEISH, st.one_of(st.none(), ANY_TEXT, JSONISH), max_size=4),
    )
)
@example({"KEY": "\ud800"})
@example({"PORT": "1"})
def test_config_changes_any_body(body: object) -> None:
    changes = outcome(config.validate_changes, body, errors=(InvalidParams,))
    if changes is None:
        return
    assert isinstance(body, dict) and len(changes) == len(body)
    for key, value in changes.items():
        validate_config_key(key)
        assert value is None or validate_config_value(key, value) == value
        json.dumps(value)  # stored in a JSON column
        assert value is None or isinstance(value.encode("utf-8"), bytes)  # no lone surrogate
    assert config.validate_changes(changes) == changes


# --- dyno commands ----------------------------------------------------------------------

SHELLISH = st.lists(
    st.sampled_from(
        ["echo", " ", "'", '"', "\\", "$", "&&", "|", "#", "a b", "\t", "\n", "é", "x"]
    ),
    max_size=20,
).map("".join)


@FUZZ
@given(st.one_of(ANY_TEXT, SHELLISH))
@example('echo "unbalanced')
@example("python app.py # it's fine")
def test_command_argv_any_text(command: str) -> None:
    argv = command_argv(command)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    if argv[:2] == ["/bin/sh", "-c"]:
        assert argv[2] == command


@FUZZ
@given(
    st.lists(st.text(ANY_CHAR.filter(lambda c: c not in "$&|;<>()`*?~"), max_size=10), max_size=6)
)
def test_command_argv_of_a_joined_argv_is_the_argv(argv: list[str]) -> None:
    assert command_argv(shlex.join(argv)) == argv


@FUZZ
@given(st.one_of(ANY_TEXT, SHELLISH, st.sampled_from(["x" * 4000, "x" * 4001])))
@example("run # it's a comment")
def test_validate_command_any_text(command: str) -> None:
    accepted = outcome(validate_command, command, "command", errors=(InvalidParams,))
    if accepted is not None:
        assert accepted == command and "\x00" not in command and len(command) <= 4000
        command_argv(command)


@FUZZ
@given(st.one_of(ANY_TEXT, ANY_TEXT.map("/".__add__), st.just("/" + "a" * 200)))
def test_validate_check_path_any_text(path: str) -> None:
    accepted = outcome(validate_check_path, path, "check_path", errors=(InvalidParams,))
    if accepted is not None:
        assert accepted == path and path.startswith("/") and len(path) <= 200
        assert path.isascii() and path.isprintable() and " " not in path
        path.encode("ascii")  # http.client sends it as it is


# --- formation updates ------------------------------------------------------------------

FORMATION_FIELD = st.one_of(
    JSONISH, ODD_STRINGS, ODD_NUMBERS, st.just(TOO_LONG_FOR_REPR), st.text(max_size=20)
)


@FUZZ
@given(
    st.one_of(
        JSONISH,
        st.fixed_dictionaries(
            {"type": st.one_of(st.sampled_from(["web", "release", "worker"]), FORMATION_FIELD)},
            optional={
                key: FORMATION_FIELD
                for key in (
                    "quantity",
                    "size",
                    "port",
                    "docker_image",
                    "command",
                    "check_path",
                    "boot_timeout",
                )
            },
        ),
    )
)
@example({"type": "web", "quantity": "²"})
@example({"type": "web", "port": HUGE_DIGITS})
@example({"type": "web", "size": []})
@example({"type": "web", "command": "echo 'x"})
@example({"type": "web", "check_path": "/é"})
def test_formation_update_any_body(raw: object) -> None:
    update = outcome(formation.parse_update, raw, errors=(InvalidParams,))
    if update is None:
        return
    validate_process_type(update.type)
    assert update.quantity is None or 0 <= update.quantity <= MAX_QUANTITY
    assert update.port is None or 1 <= update.port <= 65535
    assert update.boot_timeout is None or 1 <= update.boot_timeout <= 3600
    assert update.size is None or update.size in DYNO_SIZES
    assert update.docker_image is None or update.docker_image.startswith("sha256:")
    if update.command:
        command_argv(update.command)
    if update.check_path:
        path = update.check_path
        assert path.startswith("/") and path.isascii() and path.isprintable() and " " not in path
    # what was accepted is accepted again, the same
    again = {k: v for k, v in vars(update).items() if v is not None}
    assert formation.parse_update(again) == update


# --- backup schedules -------------------------------------------------------------------

ATISH = st.one_of(
    ANY_TEXT,
    st.tuples(
        st.text("0123456789٣²", min_size=1, max_size=3),
        st.text("0123456789", min_size=1, max_size=3),
        st.sampled_from(
            [
                "",
                " UTC",
                " Europe/Paris",
                " America",
                " Etc",
                " " + "x" * 300,
                " ../x",
                " a\x00b",
                " zone.tab",
                " UTC/",
                " /etc/passwd",
                " Mars/Olympus",
            ]
        ),
    ).map(lambda t: f"{t[0]}:{t[1]}{t[2]}"),
)


@FUZZ
@given(ATISH)
@example("02:00 America")
@example("02:00 " + "x" * 5000)
@example("٠٢:٣٠")
def test_backup_schedule_any_text(text: str) -> None:
    parsed = outcome(parse_at, text, errors=(InvalidParams,))
    if parsed is None:
        return
    hour, minute, tz = parsed
    assert 0 <= hour <= 23 and 0 <= minute <= 59
    assert parse_at(f"{hour:02d}:{minute:02d} {tz}") == parsed


@FUZZ
@given(
    st.integers(0, 23),
    st.integers(0, 59),
    st.sampled_from(["UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns"]),
)
def test_backup_schedule_round_trip(hour: int, minute: int, tz: str) -> None:
    assert parse_at(f"{hour}:{minute:02d} {tz}") == (hour, minute, tz)
    assert parse_at(f" {hour:02d}:{minute:02d}  {tz} ") == (hour, minute, tz)


# --- log sessions -----------------------------------------------------------------------


@FUZZ
@given(
    st.one_of(
        JSONISH,
        st.fixed_dictionaries(
            {},
            optional={
                "lines": st.one_of(JSONISH, st.integers(-5, MAX_LINES + 5), ODD_NUMBERS),
                "source": st.one_of(JSONISH, st.sampled_from(SOURCES)),
                "dyno": st.one_of(JSONISH, st.sampled_from(["web", "web.1", "router"])),
                "tail": JSONISH,
            },
        ),
    )
)
@example([1])
@example({"tail": "false"})
def test_log_session_any_body(body: object) -> None:
    session = outcome(
        LogSessions().create, "myapp", "app-id", "user-id", body, errors=(InvalidParams,)
    )
    if session is None:
        return
    assert 0 <= session.lines <= MAX_LINES and isinstance(session.tail, bool)
    assert session.source is None or session.source in SOURCES
    assert session.dyno is None or (isinstance(session.dyno, str) and len(session.dyno) <= 40)


# --- Range header -----------------------------------------------------------------------

RANGEISH = st.lists(
    st.sampled_from(
        [
            "id",
            "name",
            " ",
            "..",
            ".",
            "]",
            ";",
            ",",
            "max=",
            "order=",
            "asc",
            "desc",
            "10",
            "²",
            "٣",
            HUGE_DIGITS,
            "a",
            "\x00",
            "=",
            "\t",
        ]
    ),
    max_size=16,
).map("".join)
VALUE = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{2,29}", fullmatch=True),
    st.integers(1, 10**6),
    st.uuids().map(str),
)


@FUZZ
@given(st.one_of(ANY_TEXT, RANGEISH))
@example("id ..; max=²")
@example("id ²..")
@example("id ..; max=" + HUGE_DIGITS)
@example("id " + HUGE_DIGITS + "..")
def test_range_any_header(header: str) -> None:
    rng = outcome(ranges.parse, header, errors=(InvalidParams,))
    if rng is None:
        return
    assert 1 <= rng.max <= ranges.LIMIT
    items = [{rng.field: v} for v in ["9", "10", "abc", 7, None, "²", HUGE_DIGITS]]
    ranges.page(items, rng)


@FUZZ
@given(
    st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
    st.one_of(st.just(""), VALUE.map(str)),
    st.one_of(st.just(""), VALUE.map(str)),
    st.booleans(),
    st.integers(1, ranges.LIMIT),
    st.booleans(),
)
def test_range_round_trip(
    field: str, start: str, end: str, excl: bool, size: int, desc: bool
) -> None:
    order = "desc" if desc else "asc"
    rendered = f"{field} {']' if excl else ''}{start}..{end}; max={size}, order={order}"
    assert ranges.parse(rendered) == ranges.Range(field, start, end, excl, size, desc)


@FUZZ
@given(
    st.lists(VALUE, unique=True, max_size=30),
    st.integers(1, 10),
    st.booleans(),
)
def test_range_next_range_pages_through_everything(
    values: list[Any], size: int, desc: bool
) -> None:
    items = [{"name": v} for v in values]
    seen: list[Any] = []
    header: str | None = f"name ..; max={size}, order={'desc' if desc else 'asc'}"
    while header is not None:
        page, _, header = ranges.page(items, ranges.parse(header))
        seen += [i["name"] for i in page]
        assert len(seen) <= len(values)
    assert sorted(map(str, seen)) == sorted(map(str, values))


def test_range_parse_is_linear() -> None:
    start = time.perf_counter()
    for header in ("id " + "." * 60_000 + " x", "id" + " " * 60_000 + "x y", "id " + "a." * 30_000):
        with pytest.raises(InvalidParams):
            ranges.parse(header)
    assert time.perf_counter() - start < 1.0


# --- log lines --------------------------------------------------------------------------

LOGISH = st.lists(
    st.sampled_from(
        [
            "2026-11-26T10:00:00",
            ".123456",
            "+00:00",
            "Z",
            "-01:00",
            " app[",
            " moorage[",
            "web.1",
            "router",
            "]: ",
            "hello",
            "\n",
            "\r",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59",
        ]
    ),
    max_size=8,
).map("".join)


@FUZZ
@given(st.one_of(ANY_TEXT, LOGISH))
@example("0001-01-01T00:00:00+01:00 app[web.1]: x")
@example("9999-12-31T23:59:59-01:00 app[web.1]: x")
@example("2026-11-26T10:00:00Z app[web.1]: a\rb\nc")
def test_log_line_parse_any_text(text: str) -> None:
    line = parse(text)
    if line is None:
        return
    assert line.source in SOURCES and line.time.utcoffset() == timedelta(0)
    one_line = replace(line, message=line.message.replace("\r", "\ufffd").replace("\n", "\ufffd"))
    assert parse(line.render()) == one_line  # render() keeps a line one line


LOG_TIME = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
)


@FUZZ
@given(
    LOG_TIME,
    st.sampled_from(SOURCES),
    st.text(ANY_CHAR.filter(lambda c: c != "]" and not c.isspace()), min_size=1, max_size=12),
    ANY_TEXT.filter(lambda m: "\n" not in m and "\r" not in m),
)
def test_log_line_render_round_trip(
    when: datetime, source: str, process: str, message: str
) -> None:
    if source == "router":
        process = "router"
    elif source == "moorage" and process == "router":
        process = "api"
    line = LogLine(when, source, process, message)
    assert parse(line.render()) == line
    assert parse(line.render() + "\n") == line


@FUZZ
@given(st.one_of(st.binary(max_size=300), ANY_TEXT), st.integers(4, 64))
@example("\ud800" * 40, 16)
def test_split_message_any_output(raw: bytes | str, limit: int) -> None:
    messages = split_message(raw, limit)
    for m in messages:
        data = m.encode("utf-8")  # no lone surrogates left
        assert len(data) <= limit
        assert not any(c in m for c in "\n\r\x1b\x00\x7f")


@FUZZ
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=200))
def test_split_message_keeps_plain_text(text: str) -> None:
    assert "\n".join(split_message(text + "\n", 10_240)) == text
    assert "".join(split_message(text.replace("\n", ""), 8)) == text.replace("\n", "")


# --- router access-log lines (the app's log stream) ------------------------------------


ROUTERISH = st.lists(
    st.sampled_from(
        ["1790000000.123", " ", "-", "at=info", "status=", "200", 'path="/?', "x", ".", "\n"]
    ),
    max_size=12,
).map("".join)


@FUZZ
@given(st.one_of(ANY_TEXT, ROUTERISH))
@example('1790000000.123 at=info method=GET path="/?status=500" status=200 bytes=3')
@example("1790000000.1 a\rb\nc")
def test_router_line_any_text(text: str) -> None:
    line = line_object(text)
    assert (line is None) == (render(text) is None)
    if line is not None:
        assert line.source == "router" and line.render() == render(text)


# --- Dockerfile ---------------------------------------------------------------------------

DOCKERFILEISH = st.lists(
    st.sampled_from(
        [
            "FROM python\n",
            "CMD ",
            "ENTRYPOINT ",
            "EXPOSE 80\n",
            "USER ",
            "root",
            "app",
            "\\\n",
            "flask run",
            "--port 8000",
            "-p 5000",
            "[",
            "]",
            '"',
            ",",
            "#",
            "\n",
            "\x00",
        ]
    ),
    max_size=20,
).map("".join)


@FUZZ
@given(st.one_of(ANY_TEXT, DOCKERFILEISH))
@example("CMD " + "[" * 100_000)
@example('CMD ["flask", "run", 5]')
@example("CMD [1]")
def test_dockerfile_any_text(text: str) -> None:
    checks = check(text)
    lines = max(1, len(text.splitlines()))
    for c in checks:
        assert isinstance(c, Check) and c.severity in ("warning", "info")
        assert 1 <= c.line <= lines and c.what and c.platform_does


# --- Kubernetes manifests ---------------------------------------------------------------

YAMLISH = st.lists(
    st.sampled_from(
        [
            *"ab:-[]{}#&*!|>'\"%@`,? \n\t.019",
            "\n---\n",
            "kind: ",
            "metadata:",
            "  name: ",
            "items:",
            "- ",
            "List",
            "\n  ",
            "!!binary ",
            "<<: ",
            "&a ",
            "*a",
            "...",
            '"\\ud800"',
        ]
    ),
    max_size=50,
).map("".join)


def _env(name: str) -> list[dict[str, Any]]:
    return [
        {"name": "PLAIN", "value": "x"},
        {"name": "DATABASE_URL", "value": "postgres://u:p@db:5432/app"},
        {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pw"}}},
        {"name": "REF", "value": f"$(PLAIN)-{name}"},
        {"name": "API", "value": "http://web:80/api"},
    ]


def _container(name: str, image: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "command": ["sh", "-c"],
        "args": ["exec serve --port $(PORT)"],
        "env": _env(name),
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}}],
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "resources": {"limits": {"memory": "256Mi", "cpu": "500m"}},
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
        "securityContext": {"runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }


def _pod_spec(name: str, image: str) -> dict[str, Any]:
    return {
        "containers": [_container(name, image)],
        "initContainers": [{"name": "migrate", "image": image, "command": ["./migrate"]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
    }


def _workload(kind: str, name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": _pod_spec(name, image)},
        },
    }


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "shop", **extra}


TEMPLATES: list[dict[str, Any]] = [
    _workload("Deployment", "web", "shop/web:1"),
    _workload("Deployment", "worker", "shop/web:1"),
    _workload("StatefulSet", "db", "postgres:16"),
    _workload("StatefulSet", "cache", "redis:7"),
    {"apiVersion": "v1", "kind": "Pod", "metadata": _meta("solo"), "spec": _pod_spec("solo", "x")},
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("web"),
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "appProtocol": "http"}],
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("db"),
        "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]},
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta("web", annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/"}),
        "spec": {
            "tls": [{"hosts": ["shop.example.com"], "secretName": "tls"}],
            "rules": [
                {
                    "host": "shop.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("cfg"),
        "data": {"k": "v", "REDIS_URL": "redis://cache:6379/0", "PORT_URL": "web:80"},
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta("creds"),
        "type": "Opaque",
        "data": {"pw": "c2VjcmV0LXZhbHVl"},
        "stringData": {"API_TOKEN": "tok-123456"},
    },
    {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta("nightly"),
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": {"spec": _pod_spec("nightly", "shop/web:1")}}},
        },
    },
    {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta("migrate", annotations={"helm.sh/hook": "pre-install,pre-upgrade"}),
        "spec": {"template": {"spec": _pod_spec("migrate", "shop/web:1")}},
    },
    {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta("web"),
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
        },
    },
    {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("data"), "spec": {}},
    {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": _meta("w"), "spec": {"a": 1}},
    {"apiVersion": "v1", "kind": "List", "items": [{"kind": "ConfigMap", "metadata": _meta("l")}]},
]
FIELDS = ["ports", "env", "containers", "selector", "data", "spec", "items", "metadata"]
KINDS = sorted({t["kind"] for t in TEMPLATES} | {"DaemonSet", "Namespace", "ReplicaSet", "X"})


_DROP = object()


def mutated(draw: st.DrawFn, node: Any, in_mapping: bool = False) -> Any:
    """``node`` with some parts replaced by anything: wrong types, nulls, huge numbers,
    fields left out or added. One draw per node (0, where shrinking goes, keeps it)."""
    roll = draw(st.integers(0, 99))
    if roll >= 96:  # 4 %: anything at all
        return draw(JSONISH)
    if in_mapping and roll >= 93:  # 3 %: the field is left out
        return _DROP
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            child = mutated(draw, value, in_mapping=True)
            if child is not _DROP:
                out[key] = child
        if roll >= 88:  # 5 %: a field added, of any type
            out[draw(st.sampled_from(FIELDS))] = draw(JSONISH)
        return out
    if isinstance(node, list):
        items = [mutated(draw, v) for v in node]
        if roll >= 83 and node:  # 10 %: one more item, itself mutated
            items.append(mutated(draw, draw(st.sampled_from(node))))
        return items
    if roll >= 83:  # 10 %: an odd value of the leaf's kind
        return draw(odd_variant(node))
    return node


def odd_variant(leaf: Any) -> st.SearchStrategy[Any]:
    """Values a careless or hostile manifest puts where ``leaf`` was."""
    common: list[Any] = [None, "", "²", HUGE_DIGITS, 10**400, -1, True, [leaf], {"a": leaf}]
    if isinstance(leaf, bool):
        return st.sampled_from([*common, "yes", 1])
    if isinstance(leaf, int):
        return st.sampled_from([*common, str(leaf), -leaf, 0, 65536, float(leaf), leaf + 0.5])
    if isinstance(leaf, str):
        variants = [leaf.lstrip("/") or "x", leaf + " x", leaf + "é", leaf + "'", leaf + '"']
        variants += [leaf + "\x00", leaf + "\n", leaf * 300, leaf.upper(), "$(" + leaf + ")"]
        return st.sampled_from([*common, *variants])
    return st.sampled_from(common)


@st.composite
def k8s_documents(draw: st.DrawFn) -> list[Any]:
    """A few objects of a web app (workloads, Services, Ingress, config, jobs, HPA, CRDs),
    each mutated: the loader and converter must reject, report or convert every one."""
    # each template in about one example of three; the web Deployment and its Service in
    # two of three, so that most examples make an app; a template twice now and then
    chosen = [
        t
        for i, t in enumerate(TEMPLATES)
        if draw(st.integers(0, 99)) >= (33 if i in (0, 5) else 67)
    ]
    chosen += draw(st.lists(st.sampled_from(TEMPLATES), max_size=2))
    docs = []
    for template in chosen or [TEMPLATES[0]]:
        doc = mutated(draw, template)
        if isinstance(doc, dict) and draw(st.integers(0, 9)) == 9:
            doc["kind"] = draw(st.one_of(st.sampled_from(KINDS), JSONISH))
        docs.append(doc)
    return docs


def _load_text(text: str) -> tuple[list[Any], list[Any]] | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "app", "manifests.yaml")
        path.parent.mkdir()
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        return outcome(load, [path], errors=(InvalidParams,))


def check_conversion(docs_text: str, docs: list[Any] | None) -> None:
    """Load, convert, render, write and plan ``docs_text``; nothing may be dropped silently."""
    loaded = _load_text(docs_text)
    if loaded is None:
        return
    objects, found = loaded
    if docs is not None:
        # every non-empty document (every item of a List) becomes one object or one finding
        assert len(objects) + len(found) == sum(map(_units, docs))
    conv = outcome(convert, objects, found)
    assert conv is not None, "convert() raised for manifests, not for a bad app/group name"
    assert conv.uncovered() == []
    if objects or found:
        assert conv.apps or conv.findings
    for f in conv.findings:
        assert f.why and f.todo and f.severity in ("error", "warning", "info")
    render_findings(conv.findings)
    json.dumps(to_json(conv))
    check_outputs(conv)


def _units(doc: Any) -> int:
    """How many objects or findings a document must give: 0 for an empty document."""
    if doc is None:
        return 0
    if isinstance(doc, dict) and str(doc.get("kind")).endswith("List"):
        items = doc.get("items")
        if isinstance(doc.get("kind"), str) and isinstance(items, list):
            return len(items)  # an empty List holds nothing, like an empty document
    return 1


def check_outputs(conv: Conversion) -> None:
    """The files written parse with the manifest parsers; the import plan passes the API's."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        write(conv, out)
        for plan in conv.apps:
            validate_app_name(plan.name)
            manifest = parse_heroku_yml((out / plan.name / "heroku.yml").read_text("utf-8"))
            parse_procfile((out / plan.name / "Procfile").read_text("utf-8"), manifest)
            parse_app_json((out / plan.name / "app.json").read_text("utf-8"), manifest)
            check_manifest(manifest)
    owners = addon_owners(conv.apps)
    for plan in conv.apps:
        for step in plan_app(plan, Current(), conv.group, owners):
            if step.path.endswith("/config-vars"):
                config.validate_changes(step.body)
            elif step.path.endswith("/formation"):
                for update in step.body["updates"]:
                    formation.parse_update(update)


@SLOW_FUZZ
@given(st.one_of(ANY_TEXT, YAMLISH))
@example("kind: List\nitems: []\n")
@example('kind: ConfigMap\nmetadata: {name: "\\ud800"}\n')
def test_k8s_any_yaml_text(text: str) -> None:
    check_conversion(text, None)


def edited(index: int, path: str, value: Any) -> list[Any]:
    """The web Deployment and its Service, with ``TEMPLATES[index]`` changed at ``path``
    (dotted; numbers index lists): the minimal examples of the bugs these tests found."""
    docs = [copy.deepcopy(TEMPLATES[0]), copy.deepcopy(TEMPLATES[5])]
    if index not in (0, 5):
        docs.append(copy.deepcopy(TEMPLATES[index]))
    node: Any = docs[{0: 0, 5: 1}.get(index, 2)]
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parents:
        node = node[part]
    node[last] = value
    return docs


WEB = "spec.template.spec.containers.0"


@SLOW_FUZZ
@given(k8s_documents())
@example(edited(5, "spec.ports.0.targetPort", "²"))
@example(edited(5, "spec.ports.0.targetPort", HUGE_DIGITS))
@example(edited(0, f"{WEB}.readinessProbe.httpGet.path", "health"))
@example(edited(0, f"{WEB}.readinessProbe.httpGet.path", "/a b\n"))
@example(edited(0, f"{WEB}.args", ["x" * 5000]))
@example(edited(0, f"{WEB}.args", ["a\x00b"]))
@example(edited(0, f"{WEB}.env.0", {"name": "PLAIN\n", "value": "x"}))
@example(edited(0, f"{WEB}.env.0.value", "a\x00b"))
@example(edited(0, f"{WEB}.image", "shop/web\n#:1\x00"))
@example(edited(0, "spec.replicas", 65536))
@example(edited(0, "spec.replicas", True))
@example(edited(12, "spec.minReplicas", 500))
@example(edited(8, "data.API", "http://web:" + HUGE_DIGITS))
@example(edited(9, "data.pw", "²"))
@example(edited(0, f"{WEB}.env", {"PLAIN": "x"}))  # env as a mapping, not a list
@example(edited(0, "spec.template.spec.containers", {"name": "web"}))
@example(edited(0, f"{WEB}.ports", "8080"))
@example(edited(5, "spec.ports", [{"port": "80", "targetPort": None}]))
@example(edited(0, "spec", None))
def test_k8s_structured_documents(docs: list[Any]) -> None:
    check_conversion(yaml.safe_dump_all(docs), docs)


@SLOW_FUZZ
@given(st.lists(JSONISH, max_size=4))
@example([{"kind": "List", "items": []}])
@example([{"kind": "ConfigMapList", "items": [None, 3]}])
def test_k8s_any_yaml_documents(docs: list[Any]) -> None:
    check_conversion(yaml.safe_dump_all(docs), docs)


@functools.cache
def _database_conversion() -> Conversion:
    """A web app with a postgresql and a redis add-on; a path with braces in REDIS_URL."""
    docs = copy.deepcopy([TEMPLATES[i] for i in (0, 5, 2, 6, 3, 8, 9)])
    docs[5]["data"]["REDIS_URL"] = "redis://cache:6379/{database}{x}"
    loaded = _load_text(yaml.safe_dump_all(docs))
    assert loaded is not None
    conv = convert(*loaded)
    assert {a.service for a in conv.apps[0].addons} == {"postgresql", "redis"}
    return conv


ADDON_URL = st.one_of(
    ANY_TEXT.filter(lambda u: "\x00" not in u),
    st.sampled_from(
        [
            *("postgres://u:p@h:5432/db", "postgres://[::1", "redis://h:99999/0", "redis://h:x/0"),
            *("postgres://u:{password}@h/{x}", "postgres://u:%7B@h/db", "${DATABASE_URL}"),
        ]
    ),
)


@FUZZ
@given(st.dictionaries(st.sampled_from(["DATABASE_URL", "CACHE_URL", "REDIS_URL"]), ADDON_URL))
@example({"DATABASE_URL": "postgres://[::1", "CACHE_URL": "redis://h:99999/0"})
@example({"CACHE_URL": "redis://u:{x}@h:1/{port}"})
def test_k8s_import_plan_any_addon_url(urls: dict[str, str]) -> None:
    """The add-on URLs the API reports (config vars, settable by hand) never break the plan."""
    conv = _database_conversion()
    for plan in conv.apps:
        current = Current(exists=True, config=dict(urls), attachments=list(urls))
        for step in plan_app(plan, current, conv.group, addon_owners(conv.apps)):
            json.dumps(step.body)
            if step.path.endswith("/config-vars"):
                outcome(config.validate_changes, step.body, errors=(InvalidParams,))


@FUZZ
@given(st.one_of(st.none(), NAMEISH), st.one_of(st.none(), NAMEISH))
def test_k8s_convert_names_are_checked(app: str | None, group: str | None) -> None:
    docs = [_workload("Deployment", "web", "shop/web:1"), TEMPLATES[5]]
    loaded = _load_text(yaml.safe_dump_all(docs))
    assert loaded is not None
    conv = outcome(
        lambda: convert(loaded[0], loaded[1], app=app, group=group), errors=(InvalidName,)
    )
    if conv is not None:
        assert [a.name for a in conv.apps] == [app or "web"]
