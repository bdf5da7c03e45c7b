"""Moorage: a self-hosted, Heroku-style container platform."""

__version__ = "0.1.0"
