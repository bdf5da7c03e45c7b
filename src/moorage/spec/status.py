"""The states the API reports, as enums (their values are the strings Heroku's API uses).

They are ``StrEnum``: a member equals its string (``ReleaseStatus.SUCCEEDED == "succeeded"``),
so store columns, runtime reports and JSON keep plain strings."""

from __future__ import annotations

from enum import StrEnum


class ReleaseStatus(StrEnum):
    """A release: made, then ``succeeded`` once its dynos serve, ``failed`` when they did not
    (a failed release phase or boot check; the previous release keeps serving)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DynoState(StrEnum):
    """A dyno as the runtime reports it (Heroku's ``state``)."""

    STARTING = "starting"
    UP = "up"
    CRASHED = "crashed"
    DOWN = "down"


class NodeState(StrEnum):
    """A Swarm node's state as the engine reports it."""

    READY = "ready"
    DOWN = "down"
    UNKNOWN = "unknown"
    DISCONNECTED = "disconnected"


class BackupStatus(StrEnum):
    """A ``pg:backups`` capture or restore."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class ProofStatus(StrEnum):
    """A custom domain's DNS proof (``domains:verify``) or an image release job."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Verification(StrEnum):
    """A backup's check: restored into a scratch database and compared table by table."""

    PENDING = "pending"
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    ERROR = "error"


class AddonService(StrEnum):
    """The add-on services the platform runs (``addons:create postgresql``)."""

    POSTGRESQL = "postgresql"
    REDIS = "redis"


class PipelineStage(StrEnum):
    """A pipeline's stages, upstream first (Heroku's names; ``test`` is CI's, never a
    promotion's source or target)."""

    TEST = "test"
    REVIEW = "review"
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class PromotionStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"


class PromotionTargetStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
