"""Every JSON body the API takes or gives has a schema in the served OpenAPI (issue 20: one
typed contract). Streams, files and registry manifests declare their own media types."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _untyped(schema: dict[str, Any]) -> bool:
    return not schema or (
        schema.get("additionalProperties") is True and not {"properties", "$ref"} & set(schema)
    )


def test_every_json_body_is_a_model(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    untyped = []
    for path, ops in spec["paths"].items():
        for verb, op in ops.items():
            answers = [r for code, r in op.get("responses", {}).items() if code.startswith("2")]
            bodies = [op["requestBody"]] if "requestBody" in op else []
            for part in answers + bodies:
                json_body = (part.get("content") or {}).get("application/json")
                if json_body is not None and _untyped(json_body.get("schema", {})):
                    untyped.append(f"{verb.upper()} {path}")
    assert untyped == []
