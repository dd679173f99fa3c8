"""What applying a policy document would change on a tenant: one :class:`Change` per resource.

Order is the order of application: groups, then rule instances, then custom rules, then their
assignments, then (``prune``) removals. Names, not UUIDs, identify everything; the UUIDs the
apply step needs are looked up again when it runs.

Example:
    >>> from modelsec.policy.document import parse_document
    >>> from modelsec.posture.tenant import TenantState
    >>> doc = parse_document({"security_groups": {"ml": {"source_type": "LOCAL"}}})
    >>> [str(c) for c in compute_plan(doc, TenantState()).changes]
    ["create group 'ml'"]
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelsec.policy.document import CustomRuleSpec, PolicyDocument
from modelsec.posture.tenant import TenantState, names_in_condition, read_tenant

if TYPE_CHECKING:
    from modelsec.client import AsyncModelSecurityClient

__all__ = ["Change", "Plan", "compute_plan", "plan_policy"]

#: Actions that modify the tenant.
MUTATING = ("create", "update", "archive", "unarchive", "assign", "unassign", "delete")


@dataclass
class Change:
    """One resource's planned change and, after apply, its outcome.

    ``kind``: ``group``, ``rule``, ``custom_rule``, ``assignment``. ``action``: ``create``,
    ``update``, ``archive``, ``unarchive``, ``assign``, ``unassign``, ``delete``, ``unchanged``,
    ``extra`` (in the tenant, not in the file: only ``--prune`` removes it) or ``conflict``
    (cannot be reconciled by the API, e.g. a group's source type). ``diff`` maps each field to
    ``(current, desired)``. ``status`` is ``planned``, ``applied``, ``failed`` or ``skipped``.
    """

    kind: str
    action: str
    group: str | None = None
    rule: str | None = None
    custom_rule: str | None = None
    diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    detail: str | None = None
    status: str = "planned"
    error: str | None = None
    # what the apply step needs besides names
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def mutating(self) -> bool:
        """True when applying it calls the API."""
        return self.action in MUTATING

    @property
    def subject(self) -> str:
        """The resource in words, e.g. ``rule 'License Exists' in group 'hf'``."""
        if self.kind == "group":
            return f"group {self.group!r}"
        if self.kind == "rule":
            return f"rule {self.rule!r} in group {self.group!r}"
        if self.kind == "custom_rule":
            return f"custom rule {self.custom_rule!r}"
        return f"custom rule {self.custom_rule!r} in group {self.group!r}"

    def __str__(self) -> str:
        return f"{self.action} {self.subject}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``--format json``)."""
        d: dict[str, Any] = {"kind": self.kind, "action": self.action, "status": self.status}
        for k in ("group", "rule", "custom_rule", "detail", "error"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.diff:
            d["diff"] = {k: {"current": a, "desired": b} for k, (a, b) in self.diff.items()}
        return d


@dataclass
class Plan:
    """Every change, in application order, and whether removals were asked for."""

    changes: list[Change] = field(default_factory=list)
    prune: bool = False

    @property
    def pending(self) -> list[Change]:
        """The changes that call the API (``conflict`` ones too: they cannot succeed)."""
        return [c for c in self.changes if c.mutating or c.action == "conflict"]

    @property
    def has_changes(self) -> bool:
        """True when the tenant does not match the file (``plan`` exits 1)."""
        return bool(self.pending)

    def counts(self) -> dict[str, int]:
        """Changes by action."""
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.action] = out.get(c.action, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "has_changes": self.has_changes,
            "prune": self.prune,
            "counts": self.counts(),
            "changes": [c.to_dict() for c in self.changes],
        }


def _is_default_group(name: str, source_type: str) -> bool:
    # The service's own 'Default <SOURCE_TYPE>' groups are never pruned.
    return name == f"Default {source_type}"


def _custom_diff(c: CustomRuleSpec, t: Any, names: Mapping[str, str]) -> dict[str, Any]:
    diff: dict[str, Any] = {}
    want_cond = names_in_condition(c.condition, names)
    have_cond = names_in_condition(t.condition, names)
    if want_cond != have_cond:
        diff["condition"] = (have_cond, want_cond)
    if c.message != t.violation_message:
        diff["violation_message"] = (t.violation_message, c.message)
    if c.description is not None and c.description != t.description:
        diff["description"] = (t.description, c.description)
    if c.remediation_message is not None and c.remediation_message != t.remediation_message:
        diff["remediation_message"] = (t.remediation_message, c.remediation_message)
    if c.rule_action != t.rule_action:
        diff["rule_action"] = (t.rule_action, c.rule_action)
    return diff


def compute_plan(doc: PolicyDocument, state: TenantState, *, prune: bool = False) -> Plan:
    """Compare ``doc`` with a tenant ``state`` read by :func:`read_tenant`."""
    plan = Plan(prune=prune)
    add = plan.changes.append
    file_groups = {g.name for g in doc.groups}
    rule_changes: list[Change] = []
    for g in doc.groups:
        desired = doc.desired_rules(g)
        live = state.groups_named(g.name)
        if len(live) > 1:
            add(Change("group", "conflict", group=g.name, detail="several groups have this name"))
            continue
        if not live:
            configs: dict[str, Any] = {}
            for rname, (st, fv) in desired.items():
                tr = state.rules.get(rname)
                if tr is None:
                    continue
                entry: dict[str, Any] = {}
                if st != tr.default_state:
                    entry["state"] = st
                changed = {k: v for k, v in fv.items() if v != tr.default_values.get(k, [])}
                if changed:
                    entry["field_values"] = changed
                if entry:
                    configs[rname] = entry
            diff: dict[str, Any] = {"source_type": (None, g.source_type)}
            if g.description is not None:
                diff["description"] = (None, g.description)
            for rname, entry in configs.items():
                diff[f"rules.{rname}"] = (None, entry)
            add(Change("group", "create", group=g.name, diff=diff, payload={"rules": configs}))
            continue
        tg = live[0]
        if tg.source_type != g.source_type:
            add(
                Change(
                    "group",
                    "conflict",
                    group=g.name,
                    diff={"source_type": (tg.source_type, g.source_type)},
                    detail="a group's source type cannot change: rename or delete the group",
                )
            )
            continue
        if g.description is not None and g.description != tg.description:
            add(
                Change(
                    "group",
                    "update",
                    group=g.name,
                    diff={"description": (tg.description, g.description)},
                )
            )
        else:
            add(Change("group", "unchanged", group=g.name))
        for rname, (st, fv) in desired.items():
            inst = tg.instances.get(rname)
            if inst is None:
                rule_changes.append(
                    Change(
                        "rule",
                        "conflict",
                        group=g.name,
                        rule=rname,
                        detail="the tenant's group has no instance of this rule",
                    )
                )
                continue
            _, have_state, have_fv = inst
            tr = state.rules.get(rname)
            rdiff: dict[str, Any] = {}
            if have_state != st:
                rdiff["state"] = (have_state, st)
            for k, v in fv.items():
                # A field the service leaves out of an instance holds the rule's default.
                have = have_fv.get(k, tr.default_values.get(k, []) if tr else [])
                if have != v:
                    rdiff[k] = (have, v)
            rule_changes.append(
                Change(
                    "rule", "update" if rdiff else "unchanged", group=g.name, rule=rname, diff=rdiff
                )
            )
    plan.changes.extend(rule_changes)

    names = state.uuid_names()
    file_customs = {c.name for c in doc.custom_rules}
    assignment_changes: list[Change] = []
    # An archived rule cannot be assigned: archiving comes after the assignments.
    archive_changes: list[Change] = []
    for c in doc.ordered_custom_rules():
        found = state.custom_named(c.name)
        if len(found) > 1:
            add(
                Change(
                    "custom_rule",
                    "conflict",
                    custom_rule=c.name,
                    detail="several custom rules have this name",
                )
            )
            continue
        want_archived = bool(c.archived)
        if not found:
            add(
                Change(
                    "custom_rule",
                    "create",
                    custom_rule=c.name,
                    diff={
                        "condition": (None, c.condition),
                        "compatible_sources": (None, c.compatible_sources),
                    },
                )
            )
            if want_archived:
                archive_changes.append(Change("custom_rule", "archive", custom_rule=c.name))
            current: dict[str, str] = {}
        else:
            t = found[0]
            if sorted(t.compatible_sources) != sorted(c.compatible_sources):
                add(
                    Change(
                        "custom_rule",
                        "conflict",
                        custom_rule=c.name,
                        diff={"compatible_sources": (t.compatible_sources, c.compatible_sources)},
                        detail="compatible sources cannot change: archive it and use a new name",
                    )
                )
                continue
            cdiff = _custom_diff(c, t, names)
            if t.is_archived and not want_archived:
                add(Change("custom_rule", "unarchive", custom_rule=c.name))
            add(
                Change(
                    "custom_rule",
                    "update" if cdiff else "unchanged",
                    custom_rule=c.name,
                    diff=cdiff,
                )
            )
            if want_archived and not t.is_archived:
                archive_changes.append(Change("custom_rule", "archive", custom_rule=c.name))
            current = {}
            for guuid, st in t.assignments.items():
                owner = state.group_by_uuid(guuid)
                if owner is not None:
                    current[owner.name] = st
        for gname, st in sorted(c.groups.items()):
            assigned = current.get(gname)
            action = "unchanged" if assigned == st else "assign"
            assignment_changes.append(
                Change(
                    "assignment",
                    action,
                    group=gname,
                    custom_rule=c.name,
                    diff={} if assigned == st else {"state": (assigned, st)},
                )
            )
        for gname, st in sorted(current.items()):
            if gname not in c.groups:
                assignment_changes.append(
                    Change(
                        "assignment",
                        "unassign" if prune else "extra",
                        group=gname,
                        custom_rule=c.name,
                        diff={"state": (st, None)},
                    )
                )
    # Custom rules the file does not name, assigned to groups the file owns.
    for t in state.custom_rules:
        if t.name in file_customs or t.is_archived:
            continue
        for guuid, st in t.assignments.items():
            owner = state.group_by_uuid(guuid)
            if owner is not None and owner.name in file_groups:
                assignment_changes.append(
                    Change(
                        "assignment",
                        "unassign" if prune else "extra",
                        group=owner.name,
                        custom_rule=t.name,
                        diff={"state": (st, None)},
                    )
                )
    plan.changes.extend(assignment_changes)
    plan.changes.extend(archive_changes)

    # Removals: only what the file's scope covers.
    for t in state.custom_rules:
        if t.name in file_customs or t.is_archived:
            continue
        if any(fnmatch.fnmatchcase(t.name, p) for p in doc.scope_custom_rules):
            add(Change("custom_rule", "archive" if prune else "extra", custom_rule=t.name))
    for tg in state.groups:
        if tg.name in file_groups or _is_default_group(tg.name, tg.source_type):
            continue
        if any(fnmatch.fnmatchcase(tg.name, p) for p in doc.scope_groups):
            add(Change("group", "delete" if prune else "extra", group=tg.name))
    return plan


async def plan_policy(
    client: AsyncModelSecurityClient, doc: PolicyDocument, *, prune: bool = False
) -> Plan:
    """Read the tenant and compare it with ``doc``: what :func:`apply_policy` would do.

    Example:
        >>> async def example(client):
        ...     plan = await plan_policy(client, load_document("policy.yaml"))
        ...     print(plan.has_changes, [str(c) for c in plan.pending])
    """
    return compute_plan(doc, await read_tenant(client), prune=prune)
