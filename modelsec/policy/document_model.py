"""The parsed policy file and what it means: the specs of its groups, rules and custom rules.

:class:`PolicyDocument` is what :func:`modelsec.policy.document.parse_document` returns: it
derives the offline :class:`~modelsec.policy.policyfile.Policy` of a group (or of the base
layer), orders custom rules as the service evaluates them, and writes the canonical file
content. Kept apart from the parsing (:mod:`modelsec.policy.document_parse`), which only checks
raw input and builds these objects, and from the file I/O (:mod:`modelsec.policy.document`).

Example:
    >>> doc = PolicyDocument(groups=[GroupSpec(name="ml", source_type="LOCAL")])
    >>> doc.policy("ml").states["Stored In Approved Location"]
    'DISABLED'
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelsec.policy.catalog import BUILTIN_RULES, SecurityRule, rule_by_name
from modelsec.policy.policyfile import Policy, PolicyFileError

__all__ = [
    "CustomRuleSpec",
    "GroupSpec",
    "PolicyDocument",
    "RuleSpec",
    "offline_custom_uuid",
]


@dataclass
class RuleSpec:
    """A built-in rule's state and field values as the file gives them (``None``: default)."""

    state: str | None = None
    field_values: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class GroupSpec:
    """A security group of the file."""

    name: str
    source_type: str
    description: str | None = None
    rules: dict[str, RuleSpec] = field(default_factory=dict)

    def rules_in_scope(self) -> list[SecurityRule]:
        """The built-in rules that have an instance in a group of this source type."""
        return [r for r in BUILTIN_RULES if r.applies_to(self.source_type)]


@dataclass
class CustomRuleSpec:
    """A custom rule of the file; ``condition`` names rules (``rule``) rather than UUIDs."""

    name: str
    condition: dict[str, Any]
    compatible_sources: list[str] = field(default_factory=lambda: ["ALL"])
    violation_message: str | None = None
    description: str | None = None
    remediation_message: str | None = None
    rule_action: str = "FAIL"
    archived: bool | None = None
    groups: dict[str, str] = field(default_factory=dict)
    state: str | None = None  # the offline state without --group (the original format)
    uuid: str | None = None

    @property
    def message(self) -> str:
        """The violation message (the file may leave it out)."""
        return self.violation_message or f"Custom rule '{self.name}' failed"


@dataclass
class PolicyDocument:
    """A parsed policy file.

    Example:
        >>> from modelsec.policy.document import parse_document
        >>> doc = parse_document({"security_groups": {"g": {"source_type": "LOCAL"}}})
        >>> [g.name for g in doc.groups], doc.scope_groups
        (['g'], [])
    """

    base: dict[str, RuleSpec] = field(default_factory=dict)
    groups: list[GroupSpec] = field(default_factory=list)
    custom_rules: list[CustomRuleSpec] = field(default_factory=list)
    scope_groups: list[str] = field(default_factory=list)
    scope_custom_rules: list[str] = field(default_factory=list)
    name: str | None = None
    description: str | None = None

    def group(self, name: str) -> GroupSpec:
        """The group called ``name``; :class:`PolicyFileError` naming the known ones if absent."""
        for g in self.groups:
            if g.name == name:
                return g
        known = ", ".join(repr(g.name) for g in self.groups) or "none"
        raise PolicyFileError(f"the policy file has no security group {name!r} (it has: {known})")

    def ordered_custom_rules(self) -> list[CustomRuleSpec]:
        """Custom rules with each one after the custom rules its condition names.

        The service evaluates custom rules in creation order and a ``rule_result`` condition
        only sees rules evaluated before it: apply creates, and offline evaluation runs, the
        rules in this order so both agree. File order otherwise; a cycle keeps file order.
        """
        names = {c.name for c in self.custom_rules}
        done: list[CustomRuleSpec] = []
        placed: set[str] = set()
        visiting: set[str] = set()
        by_name = {c.name: c for c in self.custom_rules}

        def visit(c: CustomRuleSpec) -> None:
            if c.name in placed or c.name in visiting:
                return
            visiting.add(c.name)
            for ref in _referenced_rules(c.condition):
                if ref in names and ref != c.name:
                    visit(by_name[ref])
            visiting.discard(c.name)
            placed.add(c.name)
            done.append(c)

        for c in self.custom_rules:
            visit(c)
        return done

    def desired_rules(self, group: GroupSpec) -> dict[str, tuple[str, dict[str, list[str]]]]:
        """Rule name -> (state, full field values) the group must have: file over defaults."""
        out: dict[str, tuple[str, dict[str, list[str]]]] = {}
        for rule in group.rules_in_scope():
            state = rule.default_state
            fv = rule.default_field_values()
            for layer in (self.base.get(rule.name), group.rules.get(rule.name)):
                if layer is None:
                    continue
                state = layer.state or state
                fv.update({k: list(v) for k, v in layer.field_values.items()})
            out[rule.name] = (state, fv)
        return out

    def policy(self, group: str | None = None) -> Policy:
        """The offline :class:`Policy` of ``group`` (or of the base layer when ``None``).

        With a group the custom rules are those assigned to it (with the state of the
        assignment), as the service evaluates them. Without one, the custom rules that are
        not assigned to groups (or give a ``state`` of their own) apply, BLOCKING by default.
        """
        pol = Policy()
        uuids = {c.name: offline_custom_uuid(c) for c in self.custom_rules}
        if group is None:
            for name, spec in self.base.items():
                if spec.state:
                    pol.states[name] = spec.state
                if spec.field_values:
                    pol.field_values[name] = {k: list(v) for k, v in spec.field_values.items()}
            # A rule assigned to groups belongs to them, unless it also gives its own state.
            chosen = [
                (c, c.state or "BLOCKING")
                for c in self.ordered_custom_rules()
                if c.state is not None or not c.groups
            ]
        else:
            g = self.group(group)
            for name, (state, fv) in self.desired_rules(g).items():
                pol.states[name] = state
                pol.field_values[name] = fv
            chosen = [
                (c, c.groups[g.name])
                for c in self.ordered_custom_rules()
                if g.name in c.groups and not c.archived
            ]
        for c, state in chosen:
            pol.custom_rules.append(
                {
                    "uuid": uuids[c.name],
                    "name": c.name,
                    "description": c.description or "",
                    "state": state,
                    "rule_action": c.rule_action,
                    "compatible_sources": list(c.compatible_sources),
                    "condition": _offline_condition(c.condition, uuids),
                    "violation_message": c.message,
                    "remediation_message": c.remediation_message,
                }
            )
        return pol

    def to_dict(self) -> dict[str, Any]:
        """The canonical file content: groups sorted by name, rules in catalog order.

        Example:
            >>> from modelsec.policy.document import parse_document
            >>> parse_document({"security_groups": {"b": {"source_type": "LOCAL"},
            ...     "a": {"source_type": "S3"}}}).to_dict()["security_groups"].keys()
            dict_keys(['a', 'b'])
        """
        out: dict[str, Any] = {"version": 1}
        if self.name is not None:
            out["name"] = self.name
        if self.description is not None:
            out["description"] = self.description
        if self.scope_groups or self.scope_custom_rules:
            out["scope"] = {
                "security_groups": list(self.scope_groups),
                "custom_rules": list(self.scope_custom_rules),
            }
        if self.base:
            out["rules"] = _rules_dict(self.base)
        groups: dict[str, Any] = {}
        for g in sorted(self.groups, key=lambda g: g.name):
            gd: dict[str, Any] = {"source_type": g.source_type}
            if g.description is not None:
                gd["description"] = g.description
            gd["rules"] = _rules_dict(g.rules)
            groups[g.name] = gd
        out["security_groups"] = groups
        customs = []
        for c in sorted(self.custom_rules, key=lambda c: c.name):
            cd: dict[str, Any] = {"name": c.name}
            if c.description is not None:
                cd["description"] = c.description
            cd["compatible_sources"] = list(c.compatible_sources)
            cd["condition"] = c.condition
            cd["violation_message"] = c.message
            if c.remediation_message is not None:
                cd["remediation_message"] = c.remediation_message
            cd["rule_action"] = c.rule_action
            if c.archived is not None:
                cd["archived"] = c.archived
            if c.state is not None:
                cd["state"] = c.state
            cd["groups"] = dict(sorted(c.groups.items()))
            customs.append(cd)
        out["custom_rules"] = customs
        return out


def _rules_dict(rules: Mapping[str, RuleSpec]) -> dict[str, Any]:
    order = {r.name: i for i, r in enumerate(BUILTIN_RULES)}
    out: dict[str, Any] = {}
    for name in sorted(rules, key=lambda n: order.get(n, 99)):
        spec = rules[name]
        if spec.field_values:
            d: dict[str, Any] = {}
            if spec.state:
                d["state"] = spec.state
            d["field_values"] = {k: list(v) for k, v in spec.field_values.items()}
            out[name] = d
        elif spec.state:
            out[name] = spec.state
    return out


def _referenced_rules(cond: Mapping[str, Any]) -> list[str]:
    if "conditions" in cond:
        return [name for c in cond["conditions"] for name in _referenced_rules(c)]
    return [cond["rule"]] if cond.get("rule") is not None else []


def offline_custom_uuid(c: CustomRuleSpec) -> str:
    """The stable UUID a custom rule has in offline evaluation (its name decides it)."""
    return c.uuid or str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"policy:{c.name}"))


def _offline_condition(cond: Mapping[str, Any], uuids: Mapping[str, str]) -> dict[str, Any]:
    if "conditions" in cond:
        return {
            "operator": cond["operator"],
            "conditions": [_offline_condition(c, uuids) for c in cond["conditions"]],
        }
    out = dict(cond)
    name = out.pop("rule", None)
    if name is not None:
        try:
            out["rule_uuid"] = rule_by_name(name).uuid
        except KeyError:
            out["rule_uuid"] = uuids.get(name, "")
    return out
