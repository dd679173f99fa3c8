"""Read a tenant's posture (groups, rule instances, custom rules, assignments) and export it.

Example:
    >>> async def example(client):
    ...     doc = await export_policy(client)
    ...     print(dump_document(doc, "yaml"))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelsec.policy.document import CustomRuleSpec, GroupSpec, PolicyDocument, RuleSpec

if TYPE_CHECKING:
    from modelsec.client import AsyncModelSecurityClient

__all__ = ["TenantState", "export_policy", "read_tenant"]


def _plain(value: Any) -> Any:
    """An SDK enum (or anything with ``.value``) as its wire string."""
    return getattr(value, "value", value)


@dataclass
class TenantRule:
    """A built-in security rule as the tenant names it."""

    uuid: str
    name: str
    default_state: str
    default_values: dict[str, list[str]]
    compatible_sources: list[str]

    def applies_to(self, source_type: str) -> bool:
        """True when a group of ``source_type`` has an instance of this rule."""
        if source_type == "ALL" or "ALL" in self.compatible_sources:
            return True
        return source_type in self.compatible_sources


@dataclass
class TenantGroup:
    """A live security group with its rule instances by rule name."""

    uuid: str
    name: str
    source_type: str
    description: str
    # rule name -> (rule instance uuid, state, field values)
    instances: dict[str, tuple[str, str, dict[str, list[str]]]] = field(default_factory=dict)


@dataclass
class TenantCustomRule:
    """A custom rule with its assignments by group UUID (state in each)."""

    uuid: str
    name: str
    description: str
    compatible_sources: list[str]
    condition: dict[str, Any] | None
    violation_message: str
    remediation_message: str | None
    rule_action: str
    is_archived: bool
    assignments: dict[str, str] = field(default_factory=dict)


@dataclass
class TenantState:
    """What :func:`read_tenant` saw: every live group and every custom rule."""

    rules: dict[str, TenantRule] = field(default_factory=dict)  # by name
    groups: list[TenantGroup] = field(default_factory=list)
    custom_rules: list[TenantCustomRule] = field(default_factory=list)

    def rule_by_uuid(self, uuid: str) -> TenantRule | None:
        """The built-in rule with this UUID."""
        for r in self.rules.values():
            if r.uuid == uuid.lower():
                return r
        return None

    def groups_named(self, name: str) -> list[TenantGroup]:
        """Live groups called ``name`` (names are unique on the service; lists defend)."""
        return [g for g in self.groups if g.name == name]

    def group_by_uuid(self, uuid: str) -> TenantGroup | None:
        """The live group with this UUID."""
        for g in self.groups:
            if g.uuid == uuid:
                return g
        return None

    def custom_named(self, name: str) -> list[TenantCustomRule]:
        """Custom rules called ``name`` (archived ones included)."""
        return [c for c in self.custom_rules if c.name == name]

    def uuid_names(self) -> dict[str, str]:
        """Rule UUID (built-in and custom) -> name, for conditions."""
        out = {r.uuid: r.name for r in self.rules.values()}
        out.update({c.uuid: c.name for c in self.custom_rules})
        return out

    def condition_with_names(self, cond: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A condition whose ``rule_uuid`` references are replaced by ``rule`` names."""
        return names_in_condition(cond, self.uuid_names())


def names_in_condition(
    cond: Mapping[str, Any] | None, names: Mapping[str, str]
) -> dict[str, Any] | None:
    """``cond`` with every resolvable ``rule_uuid`` turned into ``rule: <name>``.

    Example:
        >>> names_in_condition({"type": "rule_result", "rule_uuid": "A", "value": "FAILED",
        ...     "operator": "equals"}, {"a": "License Exists"})
        {'type': 'rule_result', 'operator': 'equals', 'value': 'FAILED', 'rule': 'License Exists'}
    """
    if cond is None:
        return None
    if "conditions" in cond:
        return {
            "operator": cond.get("operator"),
            "conditions": [names_in_condition(c, names) for c in cond.get("conditions") or []],
        }
    out: dict[str, Any] = {}
    for k in ("type", "key", "operator", "value"):
        if cond.get(k) is not None:
            out[k] = cond[k]
    if cond.get("type") == "rule_result":
        out.setdefault("operator", "equals")
        if cond.get("rule") is not None:
            out["rule"] = cond["rule"]
        else:
            ref = str(cond.get("rule_uuid", "")).lower()
            if ref in names:
                out["rule"] = names[ref]
            else:
                out["rule_uuid"] = ref
    return out


async def read_tenant(client: AsyncModelSecurityClient) -> TenantState:
    """Read every live security group, its rule instances, every custom rule and assignment.

    Example:
        >>> async def example(client):
        ...     state = await read_tenant(client)
        ...     print([g.name for g in state.groups])
    """
    state = TenantState()
    async for r in client.security_rules.list():
        state.rules[r.name] = TenantRule(
            uuid=r.uuid.lower(),
            name=r.name,
            default_state=str(_plain(r.default_state)),
            default_values={
                str(k): [str(x) for x in v]
                for k, v in (r.default_values or {}).items()
                if isinstance(v, list)
            },
            compatible_sources=[str(_plain(s)) for s in r.compatible_sources],
        )
    async for g in client.security_groups.list():
        if g.is_tombstone:
            continue
        tg = TenantGroup(
            uuid=g.uuid,
            name=g.name,
            source_type=str(_plain(g.source_type)),
            description=g.description or "",
        )
        async for ri in client.security_groups.list_rule_instances(g.uuid):
            fv = {str(k): [str(x) for x in v] for k, v in (ri.field_values or {}).items()}
            tg.instances[ri.rule.name] = (ri.uuid, str(_plain(ri.state)), fv)
        state.groups.append(tg)
    async for c in client.custom_rules.list():
        # The list item may carry a partial shape: read each rule whole.
        full = await client.custom_rules.get(c.uuid)
        cond = full.condition.to_dict(exclude_none=True) if full.condition is not None else None
        tc = TenantCustomRule(
            uuid=full.uuid.lower(),
            name=full.name,
            description=full.description or "",
            compatible_sources=[str(_plain(s)) for s in full.compatible_sources],
            condition=cond,
            violation_message=full.violation_message,
            remediation_message=full.remediation_message,
            rule_action=full.rule_action or "FAIL",
            is_archived=bool(full.is_archived),
        )
        async for a in client.custom_rules.list_security_groups(full.uuid):
            tc.assignments[a.uuid] = str(_plain(a.rule_state))
        state.custom_rules.append(tc)
    return state


def document_from_state(state: TenantState) -> PolicyDocument:
    """The policy document that describes ``state`` (every rule explicit, names not UUIDs)."""
    doc = PolicyDocument()
    for g in state.groups:
        spec = GroupSpec(name=g.name, source_type=g.source_type, description=g.description)
        for rule_name, (_, st, fv) in g.instances.items():
            # A field the service leaves out of an instance holds the rule's default.
            defaults = state.rules[rule_name].default_values if rule_name in state.rules else fv
            spec.rules[rule_name] = RuleSpec(
                state=st, field_values={k: list(fv.get(k, d)) for k, d in defaults.items()}
            )
        doc.groups.append(spec)
    for c in state.custom_rules:
        groups = {}
        for guuid, st in c.assignments.items():
            tg = state.group_by_uuid(guuid)
            if tg is not None:
                groups[tg.name] = st
        doc.custom_rules.append(
            CustomRuleSpec(
                name=c.name,
                condition=state.condition_with_names(c.condition) or {},
                compatible_sources=list(c.compatible_sources),
                violation_message=c.violation_message,
                description=c.description,
                remediation_message=c.remediation_message,
                rule_action=c.rule_action,
                archived=True if c.is_archived else None,
                groups=groups,
            )
        )
    return doc


async def export_policy(client: AsyncModelSecurityClient) -> PolicyDocument:
    """The tenant's groups, rule instances and custom rules as a policy document.

    Stable order (groups and custom rules by name, rules in catalog order) and names instead
    of UUIDs, so the file diffs well in git; :func:`modelsec.policy.document.dump_document`
    writes it as YAML or JSON.

    Example:
        >>> async def example(client):
        ...     text = dump_document(await export_policy(client), "json")
    """
    return document_from_state(await read_tenant(client))
