"""JSON policy files for offline evaluation (``modelsec scan --offline --policy FILE``).

Format (every key optional)::

    {
      "version": 1,
      "rules": {
        "Load Time Code Execution Check": "BLOCKING",
        "Stored In Approved File Format": {"state": "ALLOWING",
                                           "field_values": {"approved_formats": ["pickle"]}},
        "Stored In Approved Location": {"state": "BLOCKING"}
      },
      "approved_formats": ["safetensors", "onnx"],
      "approved_locations": ["s3://models/"],
      "approved_licenses": ["apache-2.0", "mit"],
      "denied_org_models": ["evil-org/*"],
      "approved_org_models": ["my-org"],
      "deny_orgs": ["evil-org"],
      "custom_rules": [
        {"name": "Reviewed", "state": "BLOCKING", "rule_action": "FAIL",
         "compatible_sources": ["ALL"],
         "condition": {"type": "label", "key": "reviewed", "operator": "not_exists"},
         "violation_message": "Model has not been reviewed"}
      ]
    }

``rules`` maps built-in rule names (case-insensitive) to a state (``BLOCKING``, ``ALLOWING``,
``DISABLED``) or to ``{"state", "field_values"}``. Rules not named keep their default state.
The top-level field keys (``approved_formats`` ...) set that field on whichever rule owns it
(a value under ``rules`` wins). Unknown keys, rule names, states or fields are errors.

Example:
    >>> from modelsec.policy import load_policy
    >>> p = load_policy({"rules": {"License Exists": "ALLOWING"}, "approved_formats": ["onnx"]})
    >>> insts = p.rule_instances("HUGGING_FACE")
    >>> [ri.state for ri in insts if ri.rule.name == "License Exists"]
    ['ALLOWING']
    >>> [ri.value("approved_formats") for ri in insts if ri.rule.name.startswith("Stored")]
    [['onnx']]
"""

from __future__ import annotations

import json
import os
import uuid as _uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelsec.policy.catalog import BUILTIN_RULES, rule_by_name, rules_for_source
from modelsec.policy.evaluate import CustomRuleInstance, RuleInstance

__all__ = ["FIELD_KEYS", "Policy", "PolicyFileError", "load_policy"]

FIELD_KEYS: tuple[str, ...] = (
    "approved_formats",
    "approved_locations",
    "approved_licenses",
    "deny_orgs",
    "denied_org_models",
    "approved_org_models",
)
_STATES = ("BLOCKING", "ALLOWING", "DISABLED")
_TOP_KEYS = {"version", "rules", "custom_rules", "description", "name", *FIELD_KEYS}


class PolicyFileError(ValueError):
    """A policy file that does not follow the documented format."""


@dataclass
class Policy:
    """A parsed policy: rule states and field values by rule name, plus custom rules.

    Example:
        >>> Policy().rule_instances("LOCAL")[0].state
        'BLOCKING'
    """

    states: dict[str, str] = field(default_factory=dict)
    field_values: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    custom_rules: list[dict[str, Any]] = field(default_factory=list)

    def rule_instances(self, source_type: str) -> list[RuleInstance]:
        """Rule instances for ``source_type`` with this policy applied over the defaults."""
        out = []
        for r in rules_for_source(source_type):
            fv = r.default_field_values()
            fv.update({k: list(v) for k, v in self.field_values.get(r.name, {}).items()})
            out.append(RuleInstance(r, self.states.get(r.name, r.default_state), fv))
        return out

    def custom_rule_instances(self) -> list[CustomRuleInstance]:
        """The custom rules with their states (default BLOCKING)."""
        return [
            CustomRuleInstance(rule=c, state=str(c.get("state", "BLOCKING")), uuid=c["uuid"])
            for c in self.custom_rules
        ]


def _owner_of(key: str) -> str:
    for r in BUILTIN_RULES:
        if key in r.default_values:
            return r.name
    raise PolicyFileError(f"unknown field {key!r}")


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise PolicyFileError(f"{where} must be a list of strings")
    return list(value)


def load_policy(source: str | os.PathLike[str] | Mapping[str, Any]) -> Policy:
    """Load a policy from a JSON file path or an already parsed mapping.

    Raises :class:`PolicyFileError` on anything outside the documented format.

    Example:
        >>> load_policy({"rules": {"Nope": "BLOCKING"}})
        Traceback (most recent call last):
        ...
        modelsec.policy.policyfile.PolicyFileError: unknown rule 'Nope'
    """
    if isinstance(source, Mapping):
        data: Any = source
    else:
        try:
            with open(source, encoding="utf-8") as fh:
                data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise PolicyFileError(f"{os.fspath(source)}: invalid JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise PolicyFileError("a policy must be a JSON object")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PolicyFileError(f"unknown keys: {', '.join(sorted(unknown))}")
    policy = Policy()
    for key in FIELD_KEYS:
        if key in data:
            owner = _owner_of(key)
            policy.field_values.setdefault(owner, {})[key] = _str_list(data[key], key)
    rules = data.get("rules") or {}
    if not isinstance(rules, Mapping):
        raise PolicyFileError("'rules' must be an object")
    for name, spec in rules.items():
        try:
            rule = rule_by_name(str(name))
        except KeyError:
            raise PolicyFileError(f"unknown rule {name!r}") from None
        if isinstance(spec, str):
            spec = {"state": spec}
        if not isinstance(spec, Mapping):
            raise PolicyFileError(f"rule {name!r}: expected a state or an object")
        extra = set(spec) - {"state", "field_values"}
        if extra:
            raise PolicyFileError(f"rule {name!r}: unknown keys {', '.join(sorted(extra))}")
        if "state" in spec:
            state = str(spec["state"]).upper()
            if state not in _STATES:
                raise PolicyFileError(f"rule {name!r}: invalid state {spec['state']!r}")
            policy.states[rule.name] = state
        fv = spec.get("field_values") or {}
        if not isinstance(fv, Mapping):
            raise PolicyFileError(f"rule {name!r}: field_values must be an object")
        for k, v in fv.items():
            if k not in rule.default_values:
                raise PolicyFileError(f"rule {name!r} has no field {k!r}")
            policy.field_values.setdefault(rule.name, {})[k] = _str_list(v, f"{name}.{k}")
    customs = data.get("custom_rules") or []
    if not isinstance(customs, list):
        raise PolicyFileError("'custom_rules' must be a list")
    for i, c in enumerate(customs):
        if not isinstance(c, Mapping) or "condition" not in c or "name" not in c:
            raise PolicyFileError(f"custom_rules[{i}] needs at least 'name' and 'condition'")
        state = str(c.get("state", "BLOCKING")).upper()
        if state not in _STATES:
            raise PolicyFileError(f"custom_rules[{i}]: invalid state {c.get('state')!r}")
        if c.get("rule_action", "FAIL") not in ("FAIL", "PASS"):
            raise PolicyFileError(f"custom_rules[{i}]: rule_action must be FAIL or PASS")
        rule_dict = dict(c)
        rule_dict["state"] = state
        rule_dict.setdefault("uuid", str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"policy:{c['name']}")))
        rule_dict.setdefault("violation_message", f"Custom rule '{c['name']}' failed")
        rule_dict.setdefault("compatible_sources", ["ALL"])
        policy.custom_rules.append(rule_dict)
    return policy
