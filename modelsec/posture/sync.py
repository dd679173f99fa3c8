"""Blocking twins of :mod:`modelsec.posture` for :class:`modelsec.ModelSecurityClient`.

Same names and arguments; each call runs the async operation on the sync client's portal
loop (never ``asyncio.run``: safe inside Jupyter and under a running loop).

Example:
    >>> def gitops(client):  # a modelsec.ModelSecurityClient
    ...     doc = load_document("policy.yaml")
    ...     if plan_policy(client, doc).has_changes:
    ...         apply_policy(client, doc)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modelsec.policy.document import PolicyDocument, load_document
from modelsec.posture import apply as _apply
from modelsec.posture import plan as _plan
from modelsec.posture import tenant as _tenant
from modelsec.posture.plan import Change, Plan
from modelsec.sync import _portal

if TYPE_CHECKING:
    from modelsec.sync.client import ModelSecurityClient

__all__ = ["apply_policy", "export_policy", "load_document", "plan_policy"]


def export_policy(client: ModelSecurityClient) -> PolicyDocument:
    """See :func:`modelsec.posture.export_policy`."""
    return _portal.run(_tenant.export_policy, client._async)


def plan_policy(client: ModelSecurityClient, doc: PolicyDocument, *, prune: bool = False) -> Plan:
    """See :func:`modelsec.posture.plan_policy`."""
    return _portal.run(_plan.plan_policy, client._async, doc, prune=prune)


def apply_policy(
    client: ModelSecurityClient,
    doc: PolicyDocument,
    *,
    prune: bool = False,
    dry_run: bool = False,
    on_change: Callable[[Change], None] | None = None,
) -> Plan:
    """See :func:`modelsec.posture.apply_policy` (``on_change`` runs on the portal thread)."""
    return _portal.run(
        _apply.apply_policy, client._async, doc, prune=prune, dry_run=dry_run, on_change=on_change
    )
