"""Policy files for offline evaluation (``modelsec scan --offline --policy FILE``).

The full format (security groups, custom-rule assignments, YAML) is described in
:mod:`modelsec.policy.document`; the original single-policy form below is part of it.

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

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelsec.policy.catalog import rules_for_source
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


def load_policy(
    source: str | os.PathLike[str] | Mapping[str, Any], *, group: str | None = None
) -> Policy:
    """Load a policy from a file path (JSON; YAML with PyYAML) or an already parsed mapping.

    The file may be a full policy document (:mod:`modelsec.policy.document`): ``group`` picks
    one of its security groups (its rule states, field values and assigned custom rules),
    exactly as the tenant that ``modelsec policy apply`` configured from the same file.
    Raises :class:`PolicyFileError` on anything outside the documented format.

    Example:
        >>> load_policy({"rules": {"Nope": "BLOCKING"}})
        Traceback (most recent call last):
        ...
        modelsec.policy.policyfile.PolicyFileError: unknown rule 'Nope'
    """
    from modelsec.policy.document import load_document  # it builds on this module

    return load_document(source).policy(group)
