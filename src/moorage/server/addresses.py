"""The state store as the ledger of network subnets (see :mod:`moorage.runtime.subnets`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from sqlalchemy import delete, select

from moorage.runtime.subnets import SubnetPool
from moorage.server.store.db import Store
from moorage.server.store.models import NetworkSubnet
from moorage.settings import Settings


class StoreLedger:
    """Allocations in the ``network_subnets`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def recorded(self) -> dict[str, tuple[str, float]]:
        with self.store.session() as s:
            return {
                row.name: (row.subnet, row.created_at.replace(tzinfo=UTC).timestamp())
                for row in s.scalars(select(NetworkSubnet))
            }

    def record(self, name: str, subnet: str) -> None:
        with self.store.session() as s:
            s.execute(delete(NetworkSubnet).where(NetworkSubnet.name == name))
            s.add(NetworkSubnet(name=name, subnet=subnet))

    def forget(self, names: Iterable[str]) -> None:
        gone = list(names)
        if gone:
            with self.store.session() as s:
                s.execute(delete(NetworkSubnet).where(NetworkSubnet.name.in_(gone)))


def subnet_pool(settings: Settings, store: Store) -> SubnetPool:
    return SubnetPool(settings.subnet_pool, settings.subnet_size, StoreLedger(store))
