"""The dashboard: server-rendered pages served by `moor server`."""
