"""Output never lost (issue 24 item 4): `moor run`, `moor ps:exec` and `pg:psql` deliver
every byte and the exit status whether stdin is closed, a pipe or a file, and whether
stdout is a pipe or a terminal; stdin's end reaches the command without ending the session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.livefixtures import MOOR, LivePlatform, in_pty

pytestmark = pytest.mark.integration

LINES, WIDTH = 40, 30000  # 1.2 MB of output, written slowly after a delay
BIG = (
    f"sleep 1; i=0; while [ $i -lt {LINES} ]; do head -c {WIDTH} /dev/zero | tr '\\0' x; "
    "echo; i=$((i+1)); sleep 0.02; done; exit 3"
)


def _moor(
    platform: LivePlatform, args: list[str], stdin: object
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [MOOR, *args], stdin=stdin, capture_output=True, env=platform.env, timeout=300, check=False
    )


@pytest.mark.parametrize("how", ["run", "exec", "exec-no-tty"])
@pytest.mark.parametrize("given", ["closed", "pipe", "file"])
def test_every_byte_and_the_status_arrive(
    platform: LivePlatform, actors: str, tmp_path: Path, how: str, given: str
) -> None:
    command = {
        "run": ["run", "-a", actors, "--"],
        "exec": ["ps:exec", "-a", actors, "--"],
        "exec-no-tty": ["ps:exec", "--no-tty", "-a", actors, "--"],
    }[how]
    source = tmp_path / "input.txt"
    source.write_text("ignored input\n")
    stdin = {
        "closed": subprocess.DEVNULL,
        "pipe": subprocess.PIPE,
        "file": source.open("rb"),
    }[given]
    argv = [*command, "sh", "-c", BIG]
    if given == "pipe":
        done = subprocess.run(
            [MOOR, *argv], input=b"ignored input\n", capture_output=True, env=platform.env,
            timeout=300, check=False,
        )  # fmt: skip
    else:
        done = _moor(platform, argv, stdin)
    assert done.returncode == 3, done.stderr.decode(errors="replace")[-500:]
    assert done.stdout.count(b"x" * WIDTH) == LINES, (len(done.stdout), done.stderr[-300:])


def test_stdin_reaches_the_command_and_its_end_is_end_of_file(
    platform: LivePlatform, actors: str
) -> None:
    for command in (["run"], ["ps:exec"], ["ps:exec", "--no-tty"]):
        done = subprocess.run(
            [MOOR, *command, "-a", actors, "--", "sh", "-c", "wc -c; echo end"],
            input=b"hello\n", capture_output=True, env=platform.env, timeout=120, check=False,
        )  # fmt: skip
        text = done.stdout.decode(errors="replace")
        assert done.returncode == 0 and "6" in text and "end" in text, (command, text)


def test_a_terminal_on_both_ends_gets_the_output(platform: LivePlatform, actors: str) -> None:
    code, screen = in_pty(platform, "run", "-a", actors, "--", "sh", "-c", BIG, timeout=180)
    assert code == 3 and screen.count("x" * WIDTH) == LINES


def test_psql_from_a_pipe(platform: LivePlatform, actors: str) -> None:
    done = subprocess.run(
        [MOOR, "pg:psql", "-a", actors],
        input=b"SELECT 40 + 2 AS answer;\n", capture_output=True, env=platform.env,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and b"42" in done.stdout, done.stdout + done.stderr
