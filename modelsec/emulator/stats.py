"""Counters of an emulator instance, for tests and benchmarks.

Example:
    >>> s = Stats(); s.requests[("POST", "/aims/data/v1/scans", 201)] += 2
    >>> s.count("POST", "/aims/data/v1/scans"), s.count(status=500)
    (2, 0)
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

__all__ = ["Stats"]


@dataclass
class Stats:
    """Counters for tests and benchmarks.

    ``requests`` counts ``(method, route template, status)``: the template the path matched
    (``/aims/data/v1/scans/{uuid}``), ``/aims/<plane>/*`` or ``*`` for paths that match none,
    and ``OTHER`` for unusual methods, so its size stays bounded whatever clients send;
    ``token_requests``
    every call of the token endpoint; ``connections_opened`` distinct TCP connections that sent
    at least one request; ``faults`` injected faults by kind.
    """

    token_requests: int = 0
    tokens_issued: int = 0
    connections_opened: int = 0
    requests: collections.Counter[tuple[str, str, int]] = field(default_factory=collections.Counter)
    faults: collections.Counter[str] = field(default_factory=collections.Counter)

    def count(
        self, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> int:
        """Requests matching the given method / path template / status.

        Example:
            >>> s = Stats(); s.requests[("GET", "/aims/mgmt/v1/security-groups", 200)] += 1
            >>> s.count("get", "/aims/mgmt/v1/security-groups", 200)
            1
        """
        return sum(
            n
            for (m, p, st), n in self.requests.items()
            if (method is None or m == method.upper())
            and (path is None or p == path)
            and (status is None or st == status)
        )
