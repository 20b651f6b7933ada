"""What the catalog knows: service instances on nodes, in any datacenter, with checks.

Each entry has the shape of a ``PUT /v1/catalog/register`` payload; the loaders also
accept what ``/v1/health/service/:name`` and ``/v1/catalog/service/:name`` return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from meshgw.model.common import ServiceAddress, Source
from meshgw.model.registration import Check, Service

__all__ = ["CatalogEntry", "Health", "instance_checks"]


class Health:
    """Check status strings as Consul writes them."""

    PASSING = "passing"
    WARNING = "warning"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"
    ALL = (PASSING, WARNING, CRITICAL, MAINTENANCE)
    #: Statuses that count as critical: Consul writes maintenance as a critical check;
    #: meshgw accepts the word as well.
    CRITICAL_LIKE = frozenset({CRITICAL, MAINTENANCE})
    #: Statuses that count as passing: a check registered without a status is taken as
    #: passing (documented choice).
    PASSING_LIKE = frozenset({PASSING, ""})


def instance_checks(checks: Iterable[Check], service_id: str) -> list[Check]:
    """The checks of a node registration that bear on its service instance ``service_id``
    (its id, or its name when it has none: Consul defaults the ID to the name): the node's
    own checks (no service id) and the instance's."""
    return [c for c in checks if not c.service_id or c.service_id == service_id]


def _source() -> Any:
    return attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class CatalogEntry:
    """One node registration, with at most one service instance and its checks."""

    node: str = ""
    address: str = ""
    datacenter: str = ""
    id: str = ""
    partition: str = ""
    tagged_addresses: Mapping[str, str] = attrs.field(factory=dict)
    node_meta: Mapping[str, str] = attrs.field(factory=dict)
    service: Service | None = None
    checks: tuple[Check, ...] = ()
    peer_name: str = ""
    source: Source | None = _source()

    def checks_for_instance(self) -> tuple[Check, ...]:
        """Checks that apply to this entry's service: node checks and its own."""
        svc = self.service
        return tuple(instance_checks(self.checks, svc.id or svc.name if svc is not None else ""))

    @property
    def status(self) -> str:
        """Aggregated health: critical/maintenance > warning > passing (no checks = passing)."""
        worst = Health.PASSING
        for check in self.checks_for_instance():
            if check.status in Health.CRITICAL_LIKE:
                return Health.CRITICAL
            if check.status == Health.WARNING:
                worst = Health.WARNING
        return worst

    def best_address(self, wan: bool) -> ServiceAddress:
        """Consul's ``CheckServiceNode.BestAddress``: the address peers should dial.

        With ``wan``: the service's ``wan`` tagged address, else the service address,
        else the node's ``wan`` tagged address, else the node address. Without: the
        service address, else the node address. The ``lan`` tag is never used.
        """
        svc = self.service
        port = svc.port if svc is not None else 0
        if wan:
            if svc is not None:
                best = svc.wan_address()
                if best.address:
                    return best
            node_wan = self.tagged_addresses.get("wan", "")
            return ServiceAddress(node_wan or self.address, port)
        if svc is not None and svc.address:
            return ServiceAddress(svc.address, port)
        return ServiceAddress(self.address, port)
