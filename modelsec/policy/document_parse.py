"""Checking a raw policy file (a parsed JSON or YAML mapping) into a :class:`PolicyDocument`.

Every key, rule, state, field and condition of the file is checked here, and the first problem
raises :class:`~modelsec.policy.policyfile.PolicyFileError` with its path in the file. Kept
apart from the document model (:mod:`modelsec.policy.document_model`), which never sees raw
input, and from reading files (:mod:`modelsec.policy.document`).

Example:
    >>> parse_document({"rules": {"License Exists": "disabled"}}).base["License Exists"].state
    'DISABLED'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelsec.policy.catalog import ALL_SOURCE_TYPES, BUILTIN_RULES, SecurityRule, rule_by_name
from modelsec.policy.document_model import CustomRuleSpec, GroupSpec, PolicyDocument, RuleSpec
from modelsec.policy.policyfile import FIELD_KEYS, PolicyFileError

__all__ = ["GROUP_SOURCE_TYPES", "STATES", "parse_document"]

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
