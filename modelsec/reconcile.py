"""Exactly-once creates: finding a create whose outcome is unknown by its idempotency label.

Scans cannot be deleted, so ``client.scan`` and ``scan_many`` tag each create with the label
``modelsec_request_id=<32 hex>`` and, when a create fails in a way the service may have acted
on (a 5xx, 408, a timeout, a connection lost after sending), look that label up before ever
sending the create again.

An empty lookup right after the failure proves nothing: a gateway may answer 504 while it still
holds the request and deliver it to the service later. So the create is sent again only once
the *reconcile window* has passed since the failure, and a lookup made after the window still
finds nothing. Lookups run all through the window (at growing intervals), so a create that
lands in it is adopted at once. The default window is the failed request's own deadline
(connect + read timeouts, capped by the call's total: after that the client itself would have
given up on an answer) plus :data:`RECONCILE_GRACE` seconds, counted from the failure, which is
never earlier than the moment the request was sent.

A create delivered to the service later than that may still make a second scan with the same
label: it is looked for once more after the result settles and reported in
``ScanResult.duplicates`` (both uuids are known: ``result.scan.uuid`` and the duplicates).

Example:
    >>> from modelsec.config import Timeouts
    >>> default_window(Timeouts(connect=10, read=60, total=300))
    80.0
    >>> default_window(Timeouts(connect=2, read=3, total=4))
    14.0
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from modelsec.config import Timeouts
from modelsec.types import Scan

if TYPE_CHECKING:
    from modelsec.client import AsyncModelSecurityClient

__all__ = ["IDEMPOTENCY_LABEL", "RECONCILE_GRACE", "default_window", "find_by_label", "look_until"]

log = logging.getLogger("modelsec.batch")

IDEMPOTENCY_LABEL = "modelsec_request_id"
"""Label key tagging each create of ``scan_many`` so an unknown outcome can be reconciled."""

RECONCILE_GRACE = 10.0
"""Seconds added to a failed create's own deadline before it may be sent again."""

# Lookups inside the window: at once, then after these pauses (the last one repeats), and a
# final lookup once the window has passed.
_LOOKUP_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0)


def default_window(timeouts: Timeouts) -> float:
    """The default reconcile window for requests sent with ``timeouts``, in seconds.

    The failed attempt's own deadline (connect + read timeouts; the call's ``total`` when
    smaller or when they are unbounded) plus :data:`RECONCILE_GRACE`.

    Example:
        >>> default_window(Timeouts(connect=None, read=None, total=None))
        310.0
    """
    bound = (timeouts.connect or 0.0) + (timeouts.read or 0.0)
    if timeouts.read is None or bound <= 0:
        bound = timeouts.total if timeouts.total is not None else 300.0
    elif timeouts.total is not None:
        bound = min(bound, timeouts.total)
    return float(bound) + RECONCILE_GRACE


async def find_by_label(
    client: AsyncModelSecurityClient,
    request_id: str,
    read: Callable[[Callable[[], Awaitable[list[Scan]]]], Awaitable[list[Scan]]],
) -> list[Scan]:
    """Every scan carrying ``modelsec_request_id=<request_id>``, oldest first.

    ``read`` runs the lookup (the batch passes its retrying reader).

    Example:
        >>> async def example(client, request_id):
        ...     async def once(fetch):
        ...         return await fetch()
        ...     scans = await find_by_label(client, request_id, once)
    """
    query = f"{IDEMPOTENCY_LABEL}:{request_id}"

    async def fetch() -> list[Scan]:
        return await client.scans.list(labels_query=query, max_items=50).to_list()

    scans = await read(fetch)
    return sorted(scans, key=lambda s: (s.created_at is None, s.created_at, s.uuid))


async def look_until(
    client: AsyncModelSecurityClient,
    request_id: str,
    until: float,
    read: Callable[[Callable[[], Awaitable[list[Scan]]]], Awaitable[list[Scan]]],
) -> list[Scan]:
    """Look the label up until a scan carries it or the transport's clock passes ``until``.

    The last lookup is made at or after ``until``, so an empty answer means that nothing with
    this label reached the service within the window.

    Example:
        >>> async def example(client, request_id, read):
        ...     until = client._transport.clock() + default_window(Timeouts())
        ...     found = await look_until(client, request_id, until, read)
        ...     # [] : safe to send the create again (under the same label)
    """
    transport = client._transport
    step = 0
    while True:
        last = transport.clock() >= until
        found = await find_by_label(client, request_id, read)
        if found or last:
            return found
        left = max(0.0, until - transport.clock())
        pause = _LOOKUP_PAUSES[min(step, len(_LOOKUP_PAUSES) - 1)]
        step += 1
        log.debug("create %s not found yet; looking again (%.1f s left)", request_id, left)
        await transport.sleep(min(pause, left))
