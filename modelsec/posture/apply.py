"""Make a tenant match a policy document: the plan's changes, in order, each reported.

Idempotent (a second run finds nothing to do), ordered (groups, rule instances, custom rules,
assignments, then removals), and never deletes without ``prune``. A change that fails is
recorded with its error and the changes that depend on it are skipped; the others still run.
Since every run plans afresh from what the tenant holds, running again completes the work.

Example:
    >>> async def example(client):
    ...     plan = await apply_policy(client, load_document("policy.yaml"))
    ...     print([f"{c.status}: {c}" for c in plan.pending])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from modelsec.errors import AISecSDKException
from modelsec.policy.document import CustomRuleSpec, PolicyDocument
from modelsec.posture.plan import Change, Plan, compute_plan
from modelsec.posture.tenant import TenantState, read_tenant

if TYPE_CHECKING:
    from modelsec.client import AsyncModelSecurityClient

__all__ = ["apply_policy"]


class _Failed(Exception):
    """A change that cannot run (a dependency failed, a name cannot be resolved)."""


class _Rejected(Exception):
    """The service answered but did not make the change (a per-item error of a 207)."""


class _Run:
    """Names -> UUIDs while applying (creations add to them), and what failed."""

    def __init__(
        self, client: AsyncModelSecurityClient, doc: PolicyDocument, state: TenantState
    ) -> None:
        self.client = client
        self.doc = doc
        self.state = state
        self.groups = {g.name: g.uuid for g in state.groups}
        self.customs = {c.name: c.uuid for c in state.custom_rules}
        self.failed_groups: set[str] = set()
        self.failed_customs: set[str] = set()
        self.specs = {c.name: c for c in doc.custom_rules}

    def group_uuid(self, name: str | None) -> str:
        assert name is not None
        if name in self.failed_groups:
            raise _Failed(f"group {name!r} was not created")
        if name not in self.groups:
            raise _Failed(f"the tenant has no group {name!r}")
        return self.groups[name]

    def custom_uuid(self, name: str | None) -> str:
        assert name is not None
        if name in self.failed_customs or name not in self.customs:
            raise _Failed(f"custom rule {name!r} was not created")
        return self.customs[name]

    def wire_condition(self, cond: Mapping[str, Any]) -> dict[str, Any]:
        """The condition with rule names turned into this tenant's UUIDs."""
        if "conditions" in cond:
            return {
                "operator": cond["operator"],
                "conditions": [self.wire_condition(c) for c in cond["conditions"]],
            }
        out = dict(cond)
        name = out.pop("rule", None)
        if name is not None:
            rule = self.state.rules.get(name)
            if rule is not None:
                out["rule_uuid"] = rule.uuid
            elif name in self.customs and name not in self.failed_customs:
                out["rule_uuid"] = self.customs[name]
            else:
                raise _Failed(f"the condition names rule {name!r}, which the tenant does not have")
        return out

    async def run(self, ch: Change) -> None:
        c = self.client
        if ch.kind == "group":
            await self._group(ch)
        elif ch.kind == "rule":
            g = self.state.groups_named(ch.group or "")[0]
            ri_uuid = g.instances[ch.rule or ""][0]
            state = ch.diff["state"][1] if "state" in ch.diff else None
            fv = {k: v[1] for k, v in ch.diff.items() if k != "state"}
            await c.security_groups.update_rule_instance(
                self.group_uuid(ch.group), ri_uuid, state=state, field_values=fv or None
            )
        elif ch.kind == "custom_rule":
            await self._custom(ch)
        elif ch.action == "assign":
            resp = await c.custom_rules.assign_security_groups(
                self.custom_uuid(ch.custom_rule),
                {self.group_uuid(ch.group): ch.diff["state"][1]},
            )
            # 207: each assignment has its own outcome
            errors = [r.error or r.status for r in resp.results if r.status == "error"]
            if errors:
                raise _Rejected("; ".join(errors))
        elif ch.action == "unassign":
            await c.custom_rules.remove_assignment(
                self.custom_uuid(ch.custom_rule), self.group_uuid(ch.group)
            )

    async def _group(self, ch: Change) -> None:
        c = self.client
        name = ch.group or ""
        if ch.action == "create":
            spec = self.doc.group(name)
            configs = {self.state.rules[r].uuid: e for r, e in ch.payload["rules"].items()}
            try:
                g = await c.security_groups.create(
                    name=name,
                    source_type=spec.source_type,
                    description=spec.description,
                    rule_configurations=configs or None,
                )
            except BaseException:
                self.failed_groups.add(name)
                raise
            self.groups[name] = g.uuid
        elif ch.action == "update":
            await c.security_groups.update(
                self.group_uuid(name), description=ch.diff["description"][1]
            )
        elif ch.action == "delete":
            await c.security_groups.delete(self.group_uuid(name))

    async def _custom(self, ch: Change) -> None:
        c = self.client
        name = ch.custom_rule or ""
        spec: CustomRuleSpec | None = self.specs.get(name)
        if ch.action == "create":
            assert spec is not None
            try:
                rule = await c.custom_rules.create(
                    name=name,
                    compatible_sources=spec.compatible_sources,
                    condition=self.wire_condition(spec.condition),
                    violation_message=spec.message,
                    description=spec.description,
                    remediation_message=spec.remediation_message,
                    rule_action=spec.rule_action,
                )
            except BaseException:
                self.failed_customs.add(name)
                raise
            self.customs[name] = rule.uuid.lower()
        elif ch.action == "update":
            assert spec is not None
            kwargs: dict[str, Any] = {k: v[1] for k, v in ch.diff.items()}
            if "condition" in kwargs:
                kwargs["condition"] = self.wire_condition(spec.condition)
            await c.custom_rules.update(self.custom_uuid(name), **kwargs)
        elif ch.action == "archive":
            await c.custom_rules.archive(self.custom_uuid(name))
        elif ch.action == "unarchive":
            try:
                await c.custom_rules.unarchive(self.custom_uuid(name))
            except BaseException:
                self.failed_customs.add(name)  # its assignments would fail as well
                raise


async def apply_policy(
    client: AsyncModelSecurityClient,
    doc: PolicyDocument,
    *,
    prune: bool = False,
    dry_run: bool = False,
    on_change: Callable[[Change], None] | None = None,
) -> Plan:
    """Make the tenant match ``doc``; returns the plan with each change's ``status``.

    ``dry_run`` only plans. ``prune`` also removes what the file's scope covers but the file
    does not declare: unlisted assignments of the file's custom rules and of the file's groups,
    custom rules matching ``scope.custom_rules`` (archived: the API has no delete) and groups
    matching ``scope.security_groups`` (soft-deleted; ``Default <SOURCE>`` groups never).
    ``on_change`` is called after each change that was attempted.

    Example:
        >>> async def example(client):
        ...     plan = await apply_policy(client, doc, prune=True)
        ...     failed = [c for c in plan.changes if c.status == "failed"]
    """
    state = await read_tenant(client)
    plan = compute_plan(doc, state, prune=prune)
    if dry_run:
        return plan
    run = _Run(client, doc, state)
    for ch in plan.changes:
        if ch.action == "conflict":
            ch.status, ch.error = "failed", ch.detail or "conflict"
            if ch.kind == "group":
                run.failed_groups.add(ch.group or "")
            elif ch.kind == "custom_rule":
                run.failed_customs.add(ch.custom_rule or "")
        elif not ch.mutating:
            continue
        else:
            try:
                await run.run(ch)
            except _Failed as exc:
                ch.status, ch.error = "skipped", str(exc)
            except (AISecSDKException, _Rejected) as exc:
                ch.status, ch.error = "failed", " ".join(str(exc).split())
            else:
                ch.status = "applied"
        if on_change is not None:
            on_change(ch)
    return plan
