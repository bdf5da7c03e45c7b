"""The unmodified Heroku CLI (heroku@11) runs the article's commands against Moorage.

One app goes through the whole story in order: create, config, the three container
commands on examples/actors (its Heroku Dockerfile, as the article has it), a Postgres
add-on, scaling, restarts, releases and rollback, logs, domains, access, destroy. Each
step asserts on what the CLI printed and on the platform's state through `moor`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.compat.conftest import HerokuCli
from tests.livefixtures import ACTORS, PORTS, LivePlatform, in_pty

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def app(heroku: HerokuCli, platform: LivePlatform) -> Iterator[str]:
    name = f"hk-{os.urandom(3).hex()}"
    platform.apps.add(name)  # removed at the end even if a step fails
    yield name


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/actors with the article's Heroku Dockerfile as `Dockerfile`."""
    folder = tmp_path_factory.mktemp("actors")
    for item in ("myapp.py", "requirements.txt", ".profile.d"):
        src = ACTORS / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, folder / item)
    shutil.copy(ACTORS / "Dockerfile.heroku", folder / "Dockerfile")
    return folder


def _https(platform: LivePlatform, app: str) -> httpx.Response:
    ca = platform.data / "tls" / "ca.crt"
    url = f"https://{app}.{platform.domain}:{platform.https_port}/"
    return httpx.get(url, verify=str(ca), timeout=10)


def _wait_live(platform: LivePlatform, app: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if platform.json("releases", "-a", app)[0]["status"] == "succeeded":
            return
        time.sleep(1)
    raise AssertionError(f"the newest release of {app} never went live")


def test_apps_create_list_and_info(heroku: HerokuCli, platform: LivePlatform, app: str) -> None:
    created = heroku("apps:create", app)
    assert f"Creating {app}... done" in created.stderr
    assert f"https://{app}.{platform.domain}" in created.stdout
    listed = heroku("apps")
    assert app in listed.stdout.split()
    info = heroku("apps:info", "-a", app).stdout
    assert f"=== {app}" in info and "Stack:          container" in info
    assert platform.json("apps:info", "-a", app)["name"] == app


def test_config_set_get_unset(heroku: HerokuCli, platform: LivePlatform, app: str) -> None:
    out = heroku("config:set", "GREETING=hello from heroku", "-a", app)
    assert "GREETING: hello from heroku" in out.stdout
    assert out.stderr.strip().endswith("done, v1")
    assert heroku("config:get", "GREETING", "-a", app).stdout.strip() == "hello from heroku"
    heroku("config:set", "TEMP=1", "-a", app)
    unset = heroku("config:unset", "TEMP", "-a", app)
    assert "Unsetting TEMP and restarting" in unset.stderr
    config = platform.json("config", "-a", app)
    assert config["GREETING"] == "hello from heroku" and "TEMP" not in config


def test_article_container_commands_deploy_actors_over_https(
    heroku: HerokuCli, platform: LivePlatform, app: str, source: Path
) -> None:
    added = heroku("addons:create", "heroku-postgresql", "-a", app)
    assert "as DATABASE_URL" in added.stdout
    assert "Login Succeeded" in heroku("container:login").stdout
    pushed = heroku("container:push", "web", "-a", app, cwd=source)
    assert "Your image has been successfully pushed" in pushed.stdout
    released = heroku("container:release", "web", "-a", app, cwd=source)
    assert f"Releasing images web to {app}... done" in released.stderr
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            page = _https(platform, app)
            if "Meryl Streep" in page.text:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        raise AssertionError(f"{app} never served the actors over HTTPS")
    assert "hello from heroku" in page.text  # GREETING, set before the first deploy
    newest = platform.json("releases", "-a", app)[0]
    assert newest["description"].startswith("Deployed web")


def test_the_articles_kubernetes_dockerfile_serves_without_a_port_command(
    heroku: HerokuCli, platform: LivePlatform, tmp_path: Path
) -> None:
    """Issue 24 item 3: its image runs `flask run` on 5000 and ignores $PORT; the platform
    finds the port it listens on and keeps it, with no `ps:port`."""
    k8s = f"hk-k8s-{os.urandom(2).hex()}"
    platform.apps.add(k8s)
    for item in ("myapp.py", "requirements.txt", "Dockerfile"):
        shutil.copy(ACTORS / item, tmp_path / item)
    heroku("apps:create", k8s)
    heroku("addons:create", "heroku-postgresql", "-a", k8s)
    heroku("container:push", "web", "-a", k8s, cwd=tmp_path)
    heroku("container:release", "web", "-a", k8s, cwd=tmp_path)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if "Meryl Streep" in _https(platform, k8s).text:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        raise AssertionError(f"{k8s} never served the actors")
    logs = platform.moor("logs", "-a", k8s, "-n", "300").stdout
    assert "listens on port 5000, not on $PORT (8080)" in logs
    assert [f["port"] for f in platform.json("apps:info", "-a", k8s)["formation"]] == [5000]
    heroku("apps:destroy", "-a", k8s, "--confirm", k8s)


def test_ps_scale_and_restart(heroku: HerokuCli, platform: LivePlatform, app: str) -> None:
    scaled = heroku("ps:scale", "web=2", "-a", app)
    assert "now running web at 2:basic" in scaled.stderr
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        dynos = [d for d in platform.json("ps", "-a", app) if d["state"] == "up"]
        if len(dynos) == 2:
            break
        time.sleep(1)
    ps = heroku("ps", "-a", app).stdout
    assert "=== web (basic)" in ps and "web.1: up" in ps and "web.2: up" in ps
    before = {d["id"] for d in platform.json("ps", "-a", app)}
    assert f"Restarting all dynos on {app}... done" in heroku("ps:restart", "-a", app).stderr
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        after = {d["id"] for d in platform.json("ps", "-a", app) if d["state"] == "up"}
        if len(after) == 2 and not after & before:
            break
        time.sleep(1)
    else:
        raise AssertionError("ps:restart did not replace the dynos")


def test_releases_and_rollback(heroku: HerokuCli, platform: LivePlatform, app: str) -> None:
    listed = heroku("releases", "-a", app).stdout
    assert f"=== {app} Releases - Current:" in listed and "Deployed web" in listed
    heroku("config:set", "ROLLBACK_ME=1", "-a", app)
    _wait_live(platform, app)  # only live releases are rollback targets
    rolled = heroku("rollback", "-a", app)
    assert f"Rolling back {app} to" in rolled.stderr
    newest = platform.json("releases", "-a", app)[0]
    assert newest["description"].startswith("Rollback to v")
    assert "ROLLBACK_ME" not in platform.json("config", "-a", app)


def test_logs(heroku: HerokuCli, app: str) -> None:
    logs = heroku("logs", "-n", "50", "-a", app, timeout=60).stdout
    assert "moorage[api]: Release" in logs or "app[web." in logs
    assert len(logs.splitlines()) <= 50


def test_heroku_run_relays_output_input_and_the_exit_status(
    heroku: HerokuCli, platform: LivePlatform, app: str
) -> None:
    """Issue 24 item 1: the CLI's TLS rendezvous (attach_url rendezvous://...)."""
    ran = heroku(
        "run", "-x", "-a", app, "--", "sh", "-c", "echo out-$((40+2)); exit 3", check=False
    )
    assert ran.returncode == 3, ran
    assert "out-42" in ran.stdout
    reversed_ = heroku(
        "run", "--no-tty", "-a", app, "--", "python3", "-c",
        "import sys; print(sys.stdin.read().strip()[::-1])",
        input_text="stressed\n",
    )  # fmt: skip
    assert "desserts" in reversed_.stdout
    code, screen = in_pty(
        platform, "run", "-a", app, "--", "echo", "hi-from-a-tty",
        program=heroku.program, env=heroku.env, timeout=120,
    )  # fmt: skip
    assert code == 0 and "hi-from-a-tty" in screen, screen
    assert "run." not in " ".join(d["name"] for d in platform.json("ps", "-a", app))


def test_heroku_ps_exec_runs_a_command_in_the_dyno(heroku: HerokuCli, app: str) -> None:
    """Issue 24 item 2: the exec manager, then SSH to the platform's gateway on port 80."""
    status = heroku("ps:exec", "--status", "-a", app)
    assert "web.1" in status.stdout, status.stdout + status.stderr
    listed = heroku("ps:exec", "-a", app, "--", "ls", "/usr/src/app", timeout=120)
    assert "myapp.py" in listed.stdout, listed.stdout + listed.stderr
    home = Path(heroku.env["HOME"])
    heroku("ps:copy", "/usr/src/app/myapp.py", "--output", "copied.py", "-a", app, cwd=home)
    assert (home / "copied.py").read_bytes() == (ACTORS / "myapp.py").read_bytes()
    missing = heroku("ps:copy", "/no/such/file", "-a", app, cwd=home, check=False)
    assert missing.returncode != 0


def test_heroku_ps_forward_reaches_a_port_of_the_dyno(heroku: HerokuCli, app: str) -> None:
    """ps:forward runs a SOCKS proxy (port 1080, the CLI's) whose connections go over SSH to
    the dyno's own address only; here to the web process on $PORT (8080)."""
    local = PORTS + 9  # this test process's own (see PORTS)
    forward = subprocess.Popen(
        ["heroku", "ps:forward", f"{local}:8080", "-a", app],
        env=heroku.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,  # `heroku` is a script running node: stop them both
    )  # fmt: skip
    try:
        deadline, page = time.monotonic() + 90, ""
        while "Meryl Streep" not in page and time.monotonic() < deadline:
            try:
                page = httpx.get(f"http://127.0.0.1:{local}/", timeout=10).text
            except httpx.HTTPError:
                time.sleep(1)
    finally:
        os.killpg(forward.pid, signal.SIGKILL)  # it runs until stopped (Ctrl-C)
        said = forward.communicate(timeout=10)[0].decode(errors="replace")
    assert "Meryl Streep" in page, said


def test_heroku_run_detached_output_reaches_the_logs(heroku: HerokuCli, app: str) -> None:
    heroku("run:detached", "-a", app, "--", "echo", "detached-hello")
    deadline, logs = time.monotonic() + 60, ""
    while "detached-hello" not in logs and time.monotonic() < deadline:
        logs = heroku("logs", "-n", "200", "-a", app, timeout=60).stdout
        time.sleep(1)
    assert "detached-hello" in logs


def test_addons_domains_and_access(heroku: HerokuCli, platform: LivePlatform, app: str) -> None:
    addons = heroku("addons", "-a", app).stdout
    assert "postgresql" in addons and "as DATABASE" in addons
    host = f"www.{app}.example.test"
    added = heroku("domains:add", host, "-a", app)
    assert f"Adding {host} to {app}... done" in added.stderr
    assert host in [d["hostname"] for d in platform.json("domains", "-a", app)]
    assert host in heroku("domains", "-a", app).stdout
    friend = f"friend-{app}@example.test"
    platform.new_token(friend)  # an account, which an operator makes
    assert "done" in heroku("access:add", friend, "-a", app).stderr
    access = heroku("access", "-a", app).stdout
    assert friend in access and "collaborator" in access


def test_addons_create_fork_of_a_standard_database(
    heroku: HerokuCli, platform: LivePlatform
) -> None:
    other = platform.create_app("forks")
    made = heroku("addons:create", "heroku-postgresql:standard-0", "-a", other)
    assert "as DATABASE_URL" in made.stdout, made.stdout + made.stderr
    forked = heroku(
        "addons:create", "heroku-postgresql:standard-0", "--fork", "DATABASE_URL", "-a", other
    )
    assert "as HEROKU_POSTGRESQL_" in forked.stdout, forked.stdout + forked.stderr
    plans = sorted(a["plan"]["name"] for a in platform.json("addons", "-a", other))
    assert plans == ["postgresql:standard-0", "postgresql:standard-0"]


def test_apps_destroy(heroku: HerokuCli, platform: LivePlatform, app: str) -> None:
    out = heroku("apps:destroy", app, "--confirm", app)
    assert f"Destroying {app} (including all add-ons)... done" in out.stderr
    platform.apps.discard(app)
    assert app not in [a["name"] for a in platform.json("apps")]
