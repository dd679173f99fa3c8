"""What a scan is judged against: rule instances (built-in and custom) and source metadata.

The inputs of :func:`modelsec.policy.evaluate.evaluate_scan`, built from wire dicts (the
emulator's store), from a policy file (:mod:`modelsec.policy.policyfile`) or from the catalog's
defaults (:func:`default_rule_instances`). Kept apart from the judging itself
(:mod:`modelsec.policy.evaluate`) and from what it returns (:mod:`modelsec.policy.results`).

Example:
    >>> ri = default_rule_instances("LOCAL")[0]
    >>> ri.rule.name, ri.state
    ('Load Time Code Execution Check', 'BLOCKING')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelsec.policy.catalog import SecurityRule, rule_by_name, rule_by_uuid, rules_for_source

__all__ = ["CustomRuleInstance", "RuleInstance", "SourceMetadata", "default_rule_instances"]


@dataclass
class RuleInstance:
    """One rule of a group as evaluated: the rule, its state and its field values.

    Example:
        >>> from modelsec.policy.catalog import rule_by_name
        >>> ri = RuleInstance(rule_by_name("License Exists"), "ALLOWING")
        >>> ri.state
        'ALLOWING'
    """

    rule: SecurityRule
    state: str
    field_values: dict[str, list[str]] = field(default_factory=dict)
    uuid: str | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> RuleInstance:
        """From a ``ModelSecurityRuleInstanceResponseSchema`` dict (``security_rule_uuid`` or
        ``rule.uuid``/``rule.name`` identify the rule)."""
        rule: SecurityRule | None = None
        if data.get("security_rule_uuid"):
            rule = rule_by_uuid(str(data["security_rule_uuid"]))
        r = data.get("rule")
        if rule is None and isinstance(r, Mapping):
            rule = rule_by_uuid(str(r.get("uuid", ""))) or rule_by_name(str(r.get("name", "")))
        if rule is None:
            raise KeyError(f"unknown security rule in {data!r}")
        fv = data.get("field_values") or {}
        return cls(
            rule=rule,
            state=str(data.get("state") or rule.default_state),
            field_values={str(k): [str(x) for x in v] for k, v in fv.items()},
            uuid=str(data["uuid"]) if data.get("uuid") else None,
        )

    def value(self, key: str) -> list[str]:
        """The field value ``key``, falling back to the rule's default."""
        if key in self.field_values and self.field_values[key] is not None:
            return list(self.field_values[key])
        return list(self.rule.default_values.get(key, ()))


@dataclass
class CustomRuleInstance:
    """A custom rule (wire dict as in ``CustomRuleResponse``) assigned with a state.

    Example:
        >>> cr = CustomRuleInstance({"uuid": "c1", "name": "Reviewed",
        ...     "condition": {"type": "label", "key": "reviewed", "operator": "not_exists"},
        ...     "violation_message": "Review required"}, "BLOCKING")
        >>> cr.state
        'BLOCKING'
    """

    rule: Mapping[str, Any]
    state: str
    uuid: str | None = None


@dataclass
class SourceMetadata:
    """What the source says about the model (Hugging Face model card etc.).

    ``organization_verified`` ``None`` means unknown: the evaluator then uses
    :data:`~modelsec.policy.catalog.KNOWN_VERIFIED_ORGS`.

    Example:
        >>> SourceMetadata.from_model_id("openai-community/gpt2").organization
        'openai-community'
    """

    license: str | None = None
    organization: str | None = None
    model_id: str | None = None
    organization_verified: bool | None = None

    @classmethod
    def from_model_id(cls, model_id: str, license: str | None = None) -> SourceMetadata:
        """Metadata from an ``org/model`` id."""
        org = model_id.split("/", 1)[0] if "/" in model_id else None
        return cls(license=license, organization=org, model_id=model_id)

    @classmethod
    def coerce(cls, value: SourceMetadata | Mapping[str, Any] | None) -> SourceMetadata:
        """Accept an instance, a plain mapping or ``None``."""
        if value is None:
            return cls()
        if isinstance(value, SourceMetadata):
            return value
        return cls(
            license=value.get("license"),
            organization=value.get("organization"),
            model_id=value.get("model_id"),
            organization_verified=value.get("organization_verified"),
        )


def default_rule_instances(source_type: str) -> list[RuleInstance]:
    """One instance per applicable built-in rule, in its default state and values.

    Example:
        >>> [ri.rule.name for ri in default_rule_instances("LOCAL")][:2]
        ['Load Time Code Execution Check', 'Runtime Code Execution Check']
    """
    return [
        RuleInstance(rule=r, state=r.default_state, field_values=r.default_field_values())
        for r in rules_for_source(source_type)
    ]
