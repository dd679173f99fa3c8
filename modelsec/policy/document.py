"""The policy file: one document that gates offline scans and configures a tenant.

A superset of the ``--policy`` file of :mod:`modelsec.policy.policyfile`. JSON always, YAML
when PyYAML is installed (``pip install 'modelsec[yaml]'``); the JSON Schema ships as
``modelsec/policy/policy.schema.json`` (``modelsec policy schema``)::

    version: 1
    scope:                          # what 'apply --prune' may remove (default: what is named here)
      security_groups: ["ml-*"]     # fnmatch patterns of group names
      custom_rules: ["ml-*"]
    security_groups:
      ml-local:                     # groups by name
        source_type: LOCAL
        description: Models built by the ML team
        rules:                      # rules not named keep their default state and values
          Load Time Code Execution Check: BLOCKING
          Stored In Approved File Format:
            state: BLOCKING
            field_values: {approved_formats: [safetensors, onnx]}
    custom_rules:
      - name: Reviewed
        compatible_sources: [LOCAL]
        condition: {type: label, key: reviewed, operator: not_exists}
        violation_message: Model has not been reviewed
        groups: {ml-local: BLOCKING}  # assignments, with the state in each group

The top-level ``rules`` and field keys (``approved_formats`` ...) of the original format are a
base layer under every group of the file (a group's own value wins) and, without a group, the
offline policy. A ``rule_result`` condition names its rule (``rule: License Exists``) instead of
a UUID, so one file fits every tenant. Unknown keys, rules, states or fields are errors.

Example:
    >>> try:
    ...     load_document({"security_groups": {"ml": {"source_type": "LOCAL",
    ...         "rules": {"License Exists": "ALLOWING"}}}})
    ... except PolicyFileError as exc:
    ...     print(exc)
    security_groups.ml.rules: rule 'License Exists' does not apply to LOCAL groups
    >>> doc = load_document({"security_groups": {"ml": {"source_type": "LOCAL",
    ...     "approved_formats": ["onnx"]}}})
    >>> doc.policy("ml").rule_instances("LOCAL")[5].value("approved_formats")
    ['onnx']
"""

from __future__ import annotations

import json
import os
import uuid as _uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelsec.policy.catalog import ALL_SOURCE_TYPES, BUILTIN_RULES, SecurityRule, rule_by_name
from modelsec.policy.policyfile import FIELD_KEYS, Policy, PolicyFileError

__all__ = [
    "SCHEMA_PATH",
    "CustomRuleSpec",
    "GroupSpec",
    "PolicyDocument",
    "RuleSpec",
    "dump_document",
    "load_document",
    "offline_custom_uuid",
    "parse_document",
    "policy_schema",
]

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "policy.schema.json")
STATES: tuple[str, ...] = ("BLOCKING", "ALLOWING", "DISABLED")
GROUP_SOURCE_TYPES: tuple[str, ...] = (*ALL_SOURCE_TYPES, "ALL")
_TOP_KEYS = {
    "$schema",
    "version",
    "name",
    "description",
    "rules",
    "custom_rules",
    "security_groups",
    "scope",
    *FIELD_KEYS,
}
_GROUP_KEYS = {"source_type", "description", "rules", *FIELD_KEYS}
_CUSTOM_KEYS = {
    "name",
    "description",
    "compatible_sources",
    "condition",
    "violation_message",
    "remediation_message",
    "rule_action",
    "archived",
    "groups",
    "state",
    "uuid",
}


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


# ---------------------------------------------------------------------------------- parsing


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise PolicyFileError(f"{where} must be a list of strings")
    return list(value)


def _text(value: Any, where: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value):
        raise PolicyFileError(f"{where} must be a {'non-empty ' if not optional else ''}string")
    return value


def _state(value: Any, where: str) -> str:
    state = str(value).upper() if isinstance(value, str) else None
    if state not in STATES:
        raise PolicyFileError(f"{where}: invalid state {value!r} (one of {', '.join(STATES)})")
    return state


def _owner_of(key: str) -> SecurityRule:
    for r in BUILTIN_RULES:
        if key in r.default_values:
            return r
    raise PolicyFileError(f"unknown field {key!r}")  # pragma: no cover - FIELD_KEYS are owned


def _rules_layer(
    data: Mapping[str, Any], where: str, source_type: str | None
) -> dict[str, RuleSpec]:
    """``rules`` + the field shorthand keys of one level of the file."""
    out: dict[str, RuleSpec] = {}
    for key in FIELD_KEYS:
        if key in data:
            owner = _owner_of(key)
            if source_type is None or owner.applies_to(source_type):
                layer = out.setdefault(owner.name, RuleSpec())
                layer.field_values[key] = _str_list(data[key], f"{where}{key}")
    rules = data.get("rules") or {}
    if not isinstance(rules, Mapping):
        raise PolicyFileError(f"{where}'rules' must be an object")
    for name, raw in rules.items():
        spec: Any = raw
        try:
            rule = rule_by_name(str(name))
        except KeyError:
            raise PolicyFileError(f"{where}unknown rule {name!r}") from None
        if source_type is not None and not rule.applies_to(source_type):
            raise PolicyFileError(
                f"{where}rules: rule {rule.name!r} does not apply to {source_type} groups"
            )
        if isinstance(spec, str):
            spec = {"state": spec}
        if not isinstance(spec, Mapping):
            raise PolicyFileError(f"{where}rule {name!r}: expected a state or an object")
        extra = set(spec) - {"state", "field_values"}
        if extra:
            raise PolicyFileError(f"{where}rule {name!r}: unknown keys {', '.join(sorted(extra))}")
        rs = out.setdefault(rule.name, RuleSpec())
        if spec.get("state") is not None:
            rs.state = _state(spec["state"], f"{where}rule {name!r}")
        fv = spec.get("field_values") or {}
        if not isinstance(fv, Mapping):
            raise PolicyFileError(f"{where}rule {name!r}: field_values must be an object")
        for k, v in fv.items():
            if k not in rule.default_values:
                raise PolicyFileError(f"{where}rule {name!r} has no field {k!r}")
            rs.field_values[k] = _str_list(v, f"{where}{name}.{k}")
    return out


def _condition(cond: Any, where: str, depth: int = 0) -> dict[str, Any]:
    if depth > 16:
        raise PolicyFileError(f"{where}: condition nested too deeply")
    if not isinstance(cond, Mapping):
        raise PolicyFileError(f"{where} must be an object")
    if "conditions" in cond:
        if set(cond) - {"operator", "conditions"}:
            raise PolicyFileError(f"{where}: an and/or condition has 'operator' and 'conditions'")
        op = cond.get("operator")
        subs = cond["conditions"]
        if op not in ("and", "or"):
            raise PolicyFileError(f"{where}.operator must be 'and' or 'or'")
        if not isinstance(subs, list) or len(subs) < 2:
            raise PolicyFileError(f"{where}.conditions must list at least two conditions")
        return {
            "operator": op,
            "conditions": [
                _condition(c, f"{where}.conditions[{i}]", depth + 1) for i, c in enumerate(subs)
            ],
        }
    kind = cond.get("type")
    if kind == "label":
        extra = set(cond) - {"type", "key", "operator", "value"}
        op = cond.get("operator")
        if extra:
            raise PolicyFileError(f"{where}: unknown keys {', '.join(sorted(extra))}")
        if op not in ("equals", "not_equals", "exists", "not_exists"):
            raise PolicyFileError(
                f"{where}.operator must be equals, not_equals, exists or not_exists"
            )
        out: dict[str, Any] = {"type": "label", "key": _text(cond.get("key"), f"{where}.key")}
        if not out["key"]:
            raise PolicyFileError(f"{where}.key must be a non-empty string")
        out["operator"] = op
        if op in ("equals", "not_equals"):
            out["value"] = _text(cond.get("value"), f"{where}.value", optional=False)
        elif cond.get("value") is not None:
            out["value"] = _text(cond.get("value"), f"{where}.value")
        return out
    if kind == "rule_result":
        extra = set(cond) - {"type", "rule", "rule_uuid", "operator", "value"}
        if extra:
            raise PolicyFileError(f"{where}: unknown keys {', '.join(sorted(extra))}")
        if ("rule" in cond) == ("rule_uuid" in cond):
            raise PolicyFileError(f"{where}: give 'rule' (a rule name) or 'rule_uuid'")
        if cond.get("value") not in ("PASSED", "FAILED"):
            raise PolicyFileError(f"{where}.value must be PASSED or FAILED")
        if cond.get("operator", "equals") != "equals":
            raise PolicyFileError(f"{where}.operator must be 'equals'")
        out = {"type": "rule_result", "operator": "equals", "value": cond["value"]}
        if "rule" in cond:
            name = _text(cond["rule"], f"{where}.rule", optional=False)
            assert name is not None
            try:
                name = rule_by_name(name).name
            except KeyError:
                pass  # a custom rule's name, resolved against the file or the tenant
            out["rule"] = name
        else:
            out["rule_uuid"] = str(_text(cond["rule_uuid"], f"{where}.rule_uuid")).lower()
        return out
    raise PolicyFileError(f"{where}.type must be 'label' or 'rule_result' (or an and/or group)")


def _custom_rule(c: Any, i: int, group_names: set[str] | None) -> CustomRuleSpec:
    where = f"custom_rules[{i}]"
    if not isinstance(c, Mapping) or "condition" not in c or "name" not in c:
        raise PolicyFileError(f"{where} needs at least 'name' and 'condition'")
    extra = set(c) - _CUSTOM_KEYS
    if extra:
        raise PolicyFileError(f"{where}: unknown keys {', '.join(sorted(extra))}")
    name = _text(c["name"], f"{where}.name", optional=False)
    assert name is not None
    spec = CustomRuleSpec(name=name, condition=_condition(c["condition"], f"{where}.condition"))
    if c.get("compatible_sources") is not None:
        spec.compatible_sources = _str_list(c["compatible_sources"], f"{where}.compatible_sources")
        bad = [s for s in spec.compatible_sources if s not in GROUP_SOURCE_TYPES]
        if bad or not spec.compatible_sources:
            raise PolicyFileError(f"{where}.compatible_sources: unknown source types {bad}")
    spec.violation_message = _text(c.get("violation_message"), f"{where}.violation_message")
    spec.description = _text(c.get("description"), f"{where}.description")
    spec.remediation_message = _text(c.get("remediation_message"), f"{where}.remediation_message")
    action = c.get("rule_action", "FAIL")
    if action not in ("FAIL", "PASS"):
        raise PolicyFileError(f"{where}: rule_action must be FAIL or PASS")
    spec.rule_action = action
    if c.get("archived") is not None:
        if not isinstance(c["archived"], bool):
            raise PolicyFileError(f"{where}.archived must be true or false")
        spec.archived = c["archived"]
    if c.get("state") is not None:
        spec.state = _state(c["state"], where)
    if c.get("uuid") is not None:
        spec.uuid = _text(c["uuid"], f"{where}.uuid")
    groups = c.get("groups") or {}
    if not isinstance(groups, Mapping):
        raise PolicyFileError(f"{where}.groups must map group names to states")
    for gname, st in groups.items():
        if group_names is not None and gname not in group_names:
            raise PolicyFileError(f"{where}.groups: {gname!r} is not a security group of the file")
        spec.groups[str(gname)] = _state(st, f"{where}.groups.{gname}")
    return spec


def parse_document(data: Any) -> PolicyDocument:
    """Check an already parsed file (a mapping) and return the :class:`PolicyDocument`.

    Raises :class:`PolicyFileError` with the path of the first problem.
    """
    if not isinstance(data, Mapping):
        raise PolicyFileError("a policy must be an object (a JSON object or a YAML mapping)")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PolicyFileError(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    if data.get("version", 1) != 1:
        raise PolicyFileError(f"unsupported version {data.get('version')!r} (this reads 1)")
    doc = PolicyDocument(
        base=_rules_layer(data, "", None),
        name=_text(data.get("name"), "name"),
        description=_text(data.get("description"), "description"),
    )
    scope = data.get("scope") or {}
    if not isinstance(scope, Mapping) or set(scope) - {"security_groups", "custom_rules"}:
        raise PolicyFileError("scope has only 'security_groups' and 'custom_rules' (name patterns)")
    doc.scope_groups = _str_list(scope.get("security_groups", []), "scope.security_groups")
    doc.scope_custom_rules = _str_list(scope.get("custom_rules", []), "scope.custom_rules")
    groups = data.get("security_groups")
    if groups is not None and not isinstance(groups, Mapping):
        raise PolicyFileError("'security_groups' must map group names to groups")
    for gname, g in (groups or {}).items():
        where = f"security_groups.{gname}"
        if not isinstance(gname, str) or not gname:
            raise PolicyFileError(f"{where}: a group name must be a non-empty string")
        if not isinstance(g, Mapping):
            raise PolicyFileError(f"{where} must be an object")
        extra = set(g) - _GROUP_KEYS
        if extra:
            raise PolicyFileError(f"{where}: unknown keys {', '.join(sorted(extra))}")
        st = g.get("source_type")
        if st not in GROUP_SOURCE_TYPES:
            raise PolicyFileError(
                f"{where}.source_type must be one of {', '.join(GROUP_SOURCE_TYPES)}"
            )
        doc.groups.append(
            GroupSpec(
                name=gname,
                source_type=st,
                description=_text(g.get("description"), f"{where}.description"),
                rules=_rules_layer(g, f"{where}.", st),
            )
        )
    customs = data.get("custom_rules") or []
    if not isinstance(customs, list):
        raise PolicyFileError("'custom_rules' must be a list")
    names = {g.name for g in doc.groups}
    seen: set[str] = set()
    for i, c in enumerate(customs):
        spec = _custom_rule(c, i, names if groups is not None else None)
        if spec.name in seen:
            raise PolicyFileError(f"custom_rules[{i}]: a second custom rule named {spec.name!r}")
        seen.add(spec.name)
        for gname in spec.groups:
            g = next((g for g in doc.groups if g.name == gname), None)
            sources = spec.compatible_sources
            if g is not None and not (
                "ALL" in sources or g.source_type in sources or g.source_type == "ALL"
            ):
                raise PolicyFileError(
                    f"custom_rules[{i}].groups: {spec.name!r} applies to {', '.join(sources)}, "
                    f"not to {g.source_type} group {gname!r}"
                )
        doc.custom_rules.append(spec)
    return doc


def _is_yaml_name(path: str) -> bool:
    return path.lower().endswith((".yaml", ".yml"))


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise PolicyFileError(
            "YAML policy files need PyYAML: pip install 'modelsec[yaml]' (or use JSON)"
        ) from None
    return yaml


def load_document(source: str | os.PathLike[str] | Mapping[str, Any]) -> PolicyDocument:
    """Read a policy file (``.json``; ``.yaml``/``.yml`` with PyYAML) or check a mapping.

    Example:
        >>> load_document({"rules": {"License Exists": "DISABLED"}}).base["License Exists"].state
        'DISABLED'
    """
    if isinstance(source, Mapping):
        return parse_document(source)
    path = os.fspath(source)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if _is_yaml_name(path):
        yaml = _yaml()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyFileError(f"{path}: invalid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyFileError(f"{path}: invalid JSON: {exc}") from exc
    return parse_document(data)


def dump_document(doc: PolicyDocument | Mapping[str, Any], fmt: str = "yaml") -> str:
    """The file text of ``doc`` in ``fmt`` (``json`` or ``yaml``), canonical order.

    Example:
        >>> print(dump_document(parse_document({"rules": {"License Exists": "DISABLED"}}),
        ...     "json"))  # doctest: +ELLIPSIS
        {
          "version": 1,
          "rules": {
            "License Exists": "DISABLED"
          },
        ...
    """
    data = doc.to_dict() if isinstance(doc, PolicyDocument) else dict(doc)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt != "yaml":
        raise ValueError(f"unknown policy file format {fmt!r} (json or yaml)")
    yaml = _yaml()
    header = "# modelsec policy file (schema: 'modelsec policy schema')\n"
    body: str = yaml.safe_dump(
        data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )
    return header + body


def policy_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file (the file shipped in the package).

    Example:
        >>> policy_schema()["title"]
        'modelsec policy file'
    """
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data
