"""What the lab reports about a connection: who answered, and the hops it took."""

from __future__ import annotations

import re

import attrs

__all__ = ["Answer", "Connection", "Hop"]

_ANSWER = re.compile(rb"^meshgw-lab (?P<fields>[^\n]*)\n")


@attrs.frozen
class Answer:
    """Who answered a connection: the echo backend of one service instance."""

    service: str
    datacenter: str
    node: str
    peer: str = ""

    @classmethod
    def parse(cls, reply: bytes) -> Answer | None:
        match = _ANSWER.match(reply)
        if match is None:
            return None
        fields = dict(
            item.split("=", 1) for item in match["fields"].decode().split(" ") if "=" in item
        )
        return cls(
            fields.get("service", ""),
            fields.get("datacenter", ""),
            fields.get("node", ""),
            fields.get("peer", ""),
        )

    def tag(self) -> bytes:
        """What this backend puts before the bytes it echoes."""
        peer = f" peer={self.peer}" if self.peer else ""
        text = f"meshgw-lab service={self.service} datacenter={self.datacenter} node={self.node}"
        return f"{text}{peer}\n".encode()


@attrs.frozen
class Hop:
    """One proxy a connection went through, as its Envoy's stats tell.

    ``proxy``: the registration's service id; ``datacenter``, ``peer`` (``""`` in the
    lab's first cluster) and ``node``: where it runs; ``kind``: ``"connect-proxy"`` or
    ``"mesh-gateway"``; ``cluster``: the Envoy cluster it sent the connection to
    (``""`` when it sent it nowhere); ``endpoint``: the mesh address it dialed
    (``"local app"`` at the destination sidecar); ``sni``: the SNI the connection
    carries; ``failed``: mesh addresses it tried first and could not connect to.
    """

    proxy: str
    datacenter: str
    kind: str
    cluster: str
    sni: str = ""
    endpoint: str = ""
    node: str = ""
    peer: str = ""
    failed: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.peer}/" if self.peer else ""
        to = f" -> {self.cluster}" if self.cluster else " -> (nowhere)"
        return f"{self.proxy}@{where}{self.datacenter}{to}"


@attrs.frozen
class Connection:
    """What :meth:`Lab.connect` saw: ``ok`` when the echo came back whole, ``answer``
    (who answered; ``None`` when nobody did), ``hops`` in order from the source, the
    raw ``reply`` (over HTTP, the response body) and, on failure, ``error``; ``status``
    is the HTTP status of an HTTP upstream's response (``0``: not HTTP, or none came)."""

    source: str
    upstream: str
    ok: bool
    answer: Answer | None
    hops: tuple[Hop, ...]
    reply: bytes = b""
    error: str = ""
    status: int = 0

    @property
    def path(self) -> str:
        """The hops as one line: ``web-sidecar-proxy@dc1 -> mesh-gateway@dc1 -> ...``."""
        return " => ".join(str(hop) for hop in self.hops) or "(no hop)"
