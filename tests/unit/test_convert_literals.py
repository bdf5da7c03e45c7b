"""Issue 18 item 6: secrets in commands, from real inputs (small manifests that reproduce
them): whole tokens only, and literal secrets moved to config vars."""

from __future__ import annotations

import base64
from pathlib import Path

from moorage.convert.output import to_json, write
from moorage.convert.plan import convert
from tests.unit.test_convert_plan import deployment, obj


def _secret(name: str, **values: str) -> dict[str, object]:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {"kind": "Secret", "metadata": {"name": name}, "data": data}


def _written(conv: object, tmp: Path) -> str:
    write(conv, tmp)  # type: ignore[arg-type]
    return "".join(p.read_text() for p in tmp.rglob("*") if p.is_file())


def test_a_secret_value_that_is_a_word_leaves_other_words_alone(tmp_path: Path) -> None:
    """The store demo: Secret value ``username``; the Procfile had
    ``--${ORDER_QUEUE_USERNAME} ${ORDER_QUEUE_USERNAME}`` where the manifest had
    ``--username $(ORDER_QUEUE_USERNAME)``."""
    env = [
        {
            "name": "ORDER_QUEUE_USERNAME",
            "valueFrom": {"secretKeyRef": {"name": "queue", "key": "user"}},
        }
    ]
    worker = deployment(
        "orders", command=["/app/orders"], args=["--username", "$(ORDER_QUEUE_USERNAME)"], env=env
    )
    conv = convert([obj(_secret("queue", user="username")), obj(worker)])
    [app] = conv.apps
    assert app.processes[0].command == '/app/orders --username "${ORDER_QUEUE_USERNAME}"'
    assert '--username "${ORDER_QUEUE_USERNAME}"' in _written(conv, tmp_path)


def test_a_literal_password_in_args_moves_to_a_secret_config_var(tmp_path: Path) -> None:
    """A variant without a Secret: the password was written in clear to Procfile,
    heroku.yml and REPORT.md, with no finding."""
    worker = deployment(
        "orders", command=["/app/orders"], args=["--password=hunter2-long", "--api-key", "k3y-abc"]
    )
    conv = convert([obj(worker)])
    [app] = conv.apps
    assert app.processes[0].command == ("/app/orders --password=${PASSWORD} --api-key ${API_KEY}")
    moved = {v.key: (v.value, v.secret) for v in app.config}
    assert moved == {"PASSWORD": ("hunter2-long", True), "API_KEY": ("k3y-abc", True)}
    assert any("moved to the config var" in f.why for f in conv.findings)
    text = _written(conv, tmp_path) + str(to_json(conv))
    assert "hunter2-long" not in text and "k3y-abc" not in text
