"""Wire shapes of the management plane (``.../aims/mgmt``): security groups, rule instances,
security rules, PyPI authentication, custom rules and snapshot versions.

Class names drop the spec's ``Model``/``Schema`` decorations
(``ModelSecurityGroupResponseSchema`` -> ``SecurityGroup``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any, Literal, Union

import attrs

from modelsec.types._base import WireModel, converter
from modelsec.types.data import Pagination
from modelsec.types.enums import (
    RuleEditableFieldType,
    RuleState,
    RuleType,
    SecurityGroupState,
    SourceType,
)

__all__ = [
    "CompoundCondition",
    "CursorPagination",
    "CustomRule",
    "CustomRuleAssignRequest",
    "CustomRuleAssignResponse",
    "CustomRuleAssignment",
    "CustomRuleAssignmentResult",
    "CustomRuleCondition",
    "CustomRuleCreateRequest",
    "CustomRuleList",
    "CustomRuleSecurityGroup",
    "CustomRuleSecurityGroupList",
    "CustomRuleUpdateRequest",
    "LabelCondition",
    "PyPIAuth",
    "RuleConfiguration",
    "RuleEditableField",
    "RuleEditableFieldDropdown",
    "RuleInstance",
    "RuleInstanceList",
    "RuleInstanceUpdateRequest",
    "RuleRemediation",
    "RuleResultCondition",
    "SecurityGroup",
    "SecurityGroupCreateRequest",
    "SecurityGroupList",
    "SecurityGroupUpdateRequest",
    "SecurityRule",
    "SecurityRuleList",
    "SnapshotVersion",
    "SnapshotVersionList",
]


@attrs.frozen(kw_only=True)
class SecurityGroup(WireModel):
    """A named policy: one rule instance per applicable rule, bound to one source type."""

    uuid: str
    tsg_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    name: str
    description: str
    source_type: SourceType | str
    state: SecurityGroupState | str
    is_tombstone: bool

    @property
    def is_active(self) -> bool:
        """True once the group can be scanned against."""
        return self.state == SecurityGroupState.ACTIVE


@attrs.frozen(kw_only=True)
class SecurityGroupList(WireModel):
    """A page of security groups."""

    pagination: Pagination
    security_groups: list[SecurityGroup]


@attrs.frozen(kw_only=True)
class RuleConfiguration(WireModel):
    """Initial state and field values of one rule when a group is created."""

    state: RuleState | str | None = None
    field_values: dict[str, list[str]] | None = None


@attrs.frozen(kw_only=True)
class SecurityGroupCreateRequest(WireModel):
    """Body of ``POST /v1/security-groups``."""

    name: str
    source_type: SourceType | str
    description: str | None = None
    rule_configurations: dict[str, RuleConfiguration] | None = None


@attrs.frozen(kw_only=True)
class SecurityGroupUpdateRequest(WireModel):
    """Body of ``PUT /v1/security-groups/{uuid}``."""

    name: str | None = None
    description: str | None = None


@attrs.frozen(kw_only=True)
class RuleRemediation(WireModel):
    """How to remediate a failing rule."""

    description: str
    steps: list[str]
    url: str


@attrs.frozen(kw_only=True)
class RuleEditableFieldDropdown(WireModel):
    """One choice of a SELECT editable field."""

    value: str
    label: str


@attrs.frozen(kw_only=True)
class RuleEditableField(WireModel):
    """A field of a rule that a rule instance may set (``approved_formats``, ...)."""

    attribute_name: str
    type: str
    display_name: str
    display_type: RuleEditableFieldType | str
    description: str | None = None
    dropdown_values: list[RuleEditableFieldDropdown] | None = None


@attrs.frozen(kw_only=True)
class SecurityRule(WireModel):
    """A built-in, read-only security rule."""

    uuid: str
    name: str
    description: str
    rule_type: RuleType | str
    compatible_sources: list[Union[SourceType, str]]
    default_state: RuleState | str
    remediation: RuleRemediation
    editable_fields: list[RuleEditableField]
    constant_values: dict[str, Any]
    default_values: dict[str, Any]


@attrs.frozen(kw_only=True)
class SecurityRuleList(WireModel):
    """A page of security rules."""

    pagination: Pagination
    rules: list[SecurityRule]


@attrs.frozen(kw_only=True)
class RuleInstance(WireModel):
    """A rule as configured in one security group (state and field values)."""

    uuid: str
    tsg_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    security_group_uuid: str
    security_rule_uuid: str
    state: RuleState | str
    rule: SecurityRule
    field_values: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class RuleInstanceList(WireModel):
    """A page of rule instances."""

    pagination: Pagination
    rule_instances: list[RuleInstance]


@attrs.frozen(kw_only=True)
class RuleInstanceUpdateRequest(WireModel):
    """Body of ``PUT .../rule-instances/{uuid}``; the group uuid is repeated in the body."""

    security_group_uuid: str
    state: RuleState | str | None = None
    field_values: dict[str, list[str]] | None = None


@attrs.frozen(kw_only=True)
class PyPIAuth(WireModel):
    """A short-lived URL of the vendor's private package index.

    The URL embeds a credential, so ``repr`` shows it redacted; read ``.url`` to use it.

    Example:
        >>> import datetime as dt
        >>> auth = PyPIAuth(url="https://user:s3cret@pypi.example/simple/",
        ...     expires_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
        >>> "s3cret" in repr(auth)
        False
    """

    url: str = attrs.field(repr=False)
    expires_at: _dt.datetime

    @property
    def redacted_url(self) -> str:
        """The URL with its credential replaced by ``***``."""
        from modelsec.core.redact import redact_url

        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"PyPIAuth(url={self.redacted_url!r}, expires_at={self.expires_at!r})"

    __str__ = __repr__


# --- custom rules -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LabelCondition(WireModel):
    """A custom-rule condition on a scan label.

    Example:
        >>> LabelCondition(key="env", operator="equals", value="prod").to_dict()
        {'key': 'env', 'operator': 'equals', 'value': 'prod', 'type': 'label'}
    """

    key: str
    operator: str  # equals | not_equals | exists | not_exists
    value: str | None = None
    type: Literal["label"] = "label"


@attrs.frozen(kw_only=True)
class RuleResultCondition(WireModel):
    """A custom-rule condition on another rule's result (``PASSED``/``FAILED``)."""

    rule_uuid: str
    value: str  # PASSED | FAILED
    operator: Literal["equals"] = "equals"
    type: Literal["rule_result"] = "rule_result"


@attrs.frozen(kw_only=True)
class CompoundCondition(WireModel):
    """``and``/``or`` of two or more conditions."""

    operator: str  # and | or
    conditions: list[CustomRuleCondition]


CustomRuleCondition = Union[LabelCondition, RuleResultCondition, CompoundCondition]
"""A custom-rule condition: label, rule result, or an and/or compound of conditions."""


@attrs.frozen(kw_only=True)
class CustomRuleCreateRequest(WireModel):
    """Body of ``POST /v1/custom-rules``."""

    name: str
    compatible_sources: list[Union[SourceType, str]]
    condition: CustomRuleCondition
    violation_message: str
    description: str | None = None
    remediation_message: str | None = None
    rule_action: str | None = None  # FAIL | PASS


@attrs.frozen(kw_only=True)
class CustomRuleUpdateRequest(WireModel):
    """Body of ``PUT /v1/custom-rules/{uuid}``; only the fields given change."""

    name: str | None = None
    description: str | None = None
    condition: CustomRuleCondition | None = None
    violation_message: str | None = None
    remediation_message: str | None = None
    rule_action: str | None = None  # FAIL | PASS


@attrs.frozen(kw_only=True)
class CustomRule(WireModel):
    """A tenant-defined rule (``CustomRuleResponse`` and ``CustomRuleListItem``)."""

    uuid: str
    tsg_id: str
    name: str
    description: str
    compatible_sources: list[Union[SourceType, str]]
    violation_message: str
    remediation_message: str | None
    is_archived: bool
    created_by: str | None
    updated_by: str | None
    condition: CustomRuleCondition | None = None
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    rule_action: str | None = None
    enabled_security_group_count: int | None = None


@attrs.frozen(kw_only=True)
class CustomRuleList(WireModel):
    """A page of custom rules."""

    pagination: Pagination
    custom_rules: list[CustomRule]


@attrs.frozen(kw_only=True)
class CustomRuleSecurityGroup(WireModel):
    """A security group a custom rule is assigned to, with the rule's state there."""

    uuid: str
    name: str
    source_type: SourceType | str
    rule_state: RuleState | str


@attrs.frozen(kw_only=True)
class CustomRuleSecurityGroupList(WireModel):
    """A page of the groups a custom rule is assigned to."""

    pagination: Pagination
    security_groups: list[CustomRuleSecurityGroup]


@attrs.frozen(kw_only=True)
class CustomRuleAssignment(WireModel):
    """One group and the state the custom rule takes in it."""

    security_group_uuid: str
    state: RuleState | str


@attrs.frozen(kw_only=True)
class CustomRuleAssignRequest(WireModel):
    """Body of ``POST /v1/custom-rules/{uuid}/security-groups`` (1..50 assignments)."""

    assignments: list[CustomRuleAssignment]


@attrs.frozen(kw_only=True)
class CustomRuleAssignmentResult(WireModel):
    """Outcome of one assignment of a batch."""

    security_group_uuid: str
    status: str
    error: str | None = None
    rule_instance_uuid: str | None = None


@attrs.frozen(kw_only=True)
class CustomRuleAssignResponse(WireModel):
    """Outcome of a batch assignment, one result per group."""

    results: list[CustomRuleAssignmentResult]


@attrs.frozen(kw_only=True)
class CursorPagination(WireModel):
    """Cursor paging of version lists: pass ``next_token`` back to get the next page."""

    next_token: str | None = None


@attrs.frozen(kw_only=True)
class SnapshotVersion(WireModel):
    """One snapshot generation of a versioned configuration."""

    generation: int
    timestamp: str


@attrs.frozen(kw_only=True)
class SnapshotVersionList(WireModel):
    """A page of snapshot versions."""

    versions: list[SnapshotVersion]
    pagination: CursorPagination


def _structure_condition(data: Any, _: Any) -> CustomRuleCondition:
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a condition object, got {type(data).__name__}")
    kind = data.get("type")
    if kind == "label":
        return converter.structure(data, LabelCondition)
    if kind == "rule_result":
        return converter.structure(data, RuleResultCondition)
    if "conditions" in data:
        return converter.structure(data, CompoundCondition)
    raise ValueError(f"unknown custom-rule condition shape (type={kind!r})")


converter.register_structure_hook(CustomRuleCondition, _structure_condition)
