"""The API's contract: pydantic models of every request and response body, one module per
noun (``schemas/apps.py``, ``schemas/releases.py``, ...).

Server routes take and return them (FastAPI serves them as OpenAPI at ``/openapi.json``),
``client/`` parses answers into them, and the CLI and ``k8s:import`` use those. Where Heroku's
Platform API schema (``reference/heroku-platform-api.schema.json``) defines a shape, the
model follows it field for field; Moorage's extensions live under a ``moorage`` key or in
endpoints of their own. Imports only ``spec`` and ``errors``."""
