"""What a dyno's Swarm service is made of: pure, from the dyno's spec.

One replica; the image's user or ``nobody``; all capabilities dropped; memory, CPU and pids
limits; restarted on any exit after 2 s; SIGKILL 30 s after SIGTERM; start-first update and
rollback settings; ``dnsrr`` endpoints with the web port published in host mode on a port
the node picks (the router reaches ``<node address>:<port>``).
"""

from __future__ import annotations

import secrets
from typing import Any

from docker.types import (
    ContainerSpec,
    DriverConfig,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    Resources,
    RestartPolicy,
    RollbackConfig,
    ServiceMode,
    TaskTemplate,
    UpdateConfig,
)

from moorage.runtime.docker import DYNO_TMP, LABEL, READ_ONLY_TMP_MB
from moorage.runtime.volumes import volume_name
from moorage.spec.dyno import DynoSpec

STOP_GRACE_NS = 30 * 10**9  # Swarm sends SIGTERM, then SIGKILL after this
RESTART_DELAY_NS = 2 * 10**9  # Swarm restarts a crashed dyno after this (no backoff)


def service_args(
    spec: DynoSpec,
    image: str,
    *,
    instance: str,
    user: str,
    labels: dict[str, str],
    networks: list[tuple[str, list[str]]],
    constraints: list[str],
) -> dict[str, Any]:
    """The arguments of docker-py's ``create_service`` for ``spec``; ``networks`` are
    (network id, aliases), ``labels`` the dyno's identity labels."""
    name = f"{spec.app}-{spec.type}-{spec.number}-{secrets.token_hex(3)}"
    if instance != "default":
        name = f"{instance}-{name}"
    ports = (
        [{"Protocol": "tcp", "TargetPort": spec.port, "PublishMode": "host"}] if spec.port else []
    )
    return {
        "task_template": _task_template(spec, image, instance, user, networks, constraints),
        "name": name[:63],
        "labels": {
            **labels,
            f"{LABEL}.fingerprint": spec.fingerprint(),
            f"{LABEL}.port": str(spec.port or ""),
        },
        "mode": ServiceMode("replicated", replicas=1),
        "update_config": UpdateConfig(
            parallelism=1, order="start-first", failure_action="rollback", monitor=10**10
        ),
        "rollback_config": RollbackConfig(parallelism=1, order="start-first"),
        "endpoint_spec": {"Mode": "dnsrr", "Ports": ports},
    }


def _task_template(
    spec: DynoSpec,
    image: str,
    instance: str,
    user: str,
    networks: list[tuple[str, list[str]]],
    constraints: list[str],
) -> TaskTemplate:
    mounts = [
        *(
            [Mount(DYNO_TMP, "", type="tmpfs", tmpfs_size=READ_ONLY_TMP_MB * 2**20)]
            if spec.read_only
            else []
        ),
        *(Mount(v.path, volume_name(instance, spec.app, v.name)) for v in spec.volumes),
    ]
    container = ContainerSpec(
        image,
        command=spec.entrypoint or None,
        args=spec.command or None,
        env=[f"{k}={v}" for k, v in spec.env.items()],
        hostname=spec.label,
        labels={f"{LABEL}.swarm-task": instance},
        user=user,
        hosts=spec.extra_hosts or None,
        mounts=mounts or None,
        read_only=spec.read_only,
        stop_grace_period=STOP_GRACE_NS,
        init=True,
        cap_drop=["ALL"],
    )
    resources = Resources(cpu_limit=int(spec.cpus * 1e9), mem_limit=spec.memory_mb * 2**20)
    resources["Limits"]["Pids"] = spec.pids_limit  # Engine API 1.41
    return TaskTemplate(
        container,
        resources=resources,
        restart_policy=RestartPolicy("any", delay=RESTART_DELAY_NS, max_attempts=0),
        log_driver=DriverConfig("json-file", {"max-size": "20m", "max-file": "3"}),
        networks=[NetworkAttachmentConfig(net, aliases=al or None) for net, al in networks],
        placement=Placement(constraints=constraints or None),
    )
