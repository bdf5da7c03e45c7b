import re

import pytest

from moorage.errors import InvalidParams
from moorage.spec.manifests import formation_updates as release_updates
from moorage.spec.manifests import parse_app_json, parse_heroku_yml, parse_procfile


def test_procfile_types_and_release() -> None:
    m = parse_procfile(
        "# comment\nweb: gunicorn app:app\nworker: python worker.py\n"
        "release: python manage.py migrate\n"
    )
    assert m.commands == {"web": "gunicorn app:app", "worker": "python worker.py"}
    assert m.release_command == "python manage.py migrate"


def test_heroku_yml_run_and_release() -> None:
    m = parse_heroku_yml(
        "build:\n  docker:\n    web: Dockerfile\nrun:\n  web: flask run\n"
        "  worker:\n    command: [python, w.py]\n    image: web\n"
        "release:\n  command: [./migrate.sh, --all]\n  image: web\n"
    )
    assert m.commands == {"web": "flask run", "worker": "python w.py"}
    assert m.release_command == "./migrate.sh --all" and m.release_image == "web"


def test_app_json_health_check_path() -> None:
    m = parse_app_json('{"healthchecks": {"web": [{"type": "startup", "path": "/healthz"}]}}')
    assert m.check_paths == {"web": "/healthz"}


@pytest.mark.parametrize(
    ("parser", "text", "message"),
    [
        (parse_procfile, "web gunicorn", "expected `type: command`"),
        (parse_heroku_yml, "run: [web]", "`run` maps process types"),
        (parse_heroku_yml, "run:\n  web: 3", "a command is a string"),
        (parse_heroku_yml, "release: [x]", "`release` has `command`"),
        (parse_heroku_yml, "run: {", "not valid YAML"),
        (parse_app_json, "{", "not valid JSON"),
        (parse_procfile, "Bad_Type: x", "Process type .Bad_Type. is invalid"),
    ],
)
def test_bad_manifests_say_what_is_wrong(parser, text, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParams, match=message):
        parser(text)


def test_release_updates_combine_images_commands_phase_and_checks() -> None:
    m = parse_procfile("web: serve\nworker: work\nrelease: migrate\n")
    m.check_paths["web"] = "/up"
    updates = release_updates(["web"], {"web": "sha256:abc"}, m)
    assert updates == [
        {"type": "web", "docker_image": "sha256:abc", "command": "serve", "check_path": "/up"},
        {"type": "worker", "command": "work"},
        {"type": "release", "command": "migrate"},
    ]


def test_commands_with_shell_syntax_run_in_a_shell() -> None:
    from moorage.spec.dyno import command_argv

    assert command_argv("gunicorn app:app -w 2") == ["gunicorn", "app:app", "-w", "2"]
    assert command_argv("./migrate && ./seed") == ["/bin/sh", "-c", "./migrate && ./seed"]
    assert command_argv("serve --port ${PORT}") == ["/bin/sh", "-c", "serve --port ${PORT}"]


def test_heroku_yml_setup_lists_addons_and_config_of_the_first_deploy() -> None:
    m = parse_heroku_yml(
        "setup:\n  addons:\n    - plan: heroku-postgresql\n      as: DATABASE\n"
        "    - plan: heroku-redis\n  config:\n    S3_BUCKET: my-bucket\n    WORKERS: 4\n"
        "    DEBUG: false\nbuild:\n  docker:\n    web: Dockerfile\n"
    )
    assert m.setup_addons == [("heroku-postgresql", "DATABASE"), ("heroku-redis", "")]
    assert m.setup_config == {"S3_BUCKET": "my-bucket", "WORKERS": "4", "DEBUG": "false"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("setup: [a]\n", "`setup` has `addons`"),
        ("setup:\n  addons: heroku-postgresql\n", "`setup` has `addons`"),
        ("setup:\n  addons:\n    - as: DB\n", "has a `plan`"),
        ("setup:\n  config:\n    K:\n      nested: 1\n", "setup.config.K"),
        ("setup:\n  config:\n    1BAD: x\n", "1BAD"),
    ],
)
def test_a_malformed_setup_is_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(InvalidParams, match=re.escape(says)):
        parse_heroku_yml(text)
