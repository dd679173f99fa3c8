"""Policy as code: export, plan and apply a policy file against a tenant through the SDK.

The file format lives in :mod:`modelsec.policy.document` (pure data, shared with offline
scans); this package adds what needs the service, and is kept out of :mod:`modelsec.policy`,
which the emulator imports and which must never pull in the SDK.

Example:
    >>> async def gitops(client):
    ...     doc = load_document("policy.yaml")
    ...     plan = await plan_policy(client, doc)           # what would change
    ...     if plan.has_changes:
    ...         plan = await apply_policy(client, doc)      # make it so
    ...     text = dump_document(await export_policy(client), "yaml")
"""

from modelsec.policy.document import (
    PolicyDocument,
    dump_document,
    load_document,
    parse_document,
    policy_schema,
)
from modelsec.policy.policyfile import PolicyFileError
from modelsec.posture.apply import apply_policy
from modelsec.posture.plan import Change, Plan, compute_plan, plan_policy
from modelsec.posture.render import render_plan
from modelsec.posture.tenant import TenantState, export_policy, read_tenant

__all__ = [
    "Change",
    "Plan",
    "PolicyDocument",
    "PolicyFileError",
    "TenantState",
    "apply_policy",
    "compute_plan",
    "dump_document",
    "export_policy",
    "load_document",
    "parse_document",
    "plan_policy",
    "policy_schema",
    "read_tenant",
    "render_plan",
]
