"""Wire shapes of the data plane (``.../aims/data``): scans, files, evaluations, violations,
labels, models and model versions.

Class names are the spec's schema names without the ``Schema``/``ResponseSchema`` suffix
(``ScanBaseResponseSchema`` -> ``Scan``, ``FileScanDataSchema`` -> ``FileScanData``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any, Union

import attrs

from modelsec.types._base import WireModel
from modelsec.types.enums import (
    ErrorCode,
    EvalOutcome,
    FileScanResult,
    FileType,
    ModelScanStatus,
    RuleEvaluationResult,
    RuleState,
    ScanOrigin,
    SourceType,
    ThreatCategory,
)

__all__ = [
    "EvalSummary",
    "File",
    "FileList",
    "FileScanData",
    "HTTPValidationError",
    "Label",
    "LabelKeyList",
    "LabelValueList",
    "LabelsCreateRequest",
    "LabelsResponse",
    "Model",
    "ModelList",
    "ModelScanIssue",
    "ModelVersion",
    "ModelVersionList",
    "Pagination",
    "RuleEvaluation",
    "RuleEvaluationList",
    "Scan",
    "ScanCreateRequest",
    "ScanDetails",
    "ScanList",
    "ValidationErrorItem",
    "Violation",
    "ViolationList",
    "ViolationRemediation",
]


@attrs.frozen(kw_only=True)
class Pagination(WireModel):
    """Paging facts of a list; ``total_items`` may be null or capped, so never rely on it."""

    total_items: int | None = None


@attrs.frozen(kw_only=True)
class EvalSummary(WireModel):
    """Counts of rules passed and failed on a scan."""

    rules_failed: int = 0
    rules_passed: int = 0
    total_rules: int = 0


@attrs.frozen(kw_only=True)
class Label(WireModel):
    """A ``key``/``value`` tag on a scan (``[A-Za-z0-9_-]``, key 1..128, value 1..256).

    Example:
        >>> Label(key="team", value="ml-platform")
        Label(key='team', value='ml-platform')
    """

    key: str
    value: str


@attrs.frozen(kw_only=True)
class ModelScanIssue(WireModel):
    """One finding of the scanner in one file."""

    description: str
    source: str
    threat: ThreatCategory | str | None = None
    module: str | None = None
    operator: str | None = None


@attrs.frozen(kw_only=True)
class FileScanData(WireModel):
    """What the scanner found in one file of a LOCAL scan (sent inside ``scan_details``)."""

    file_path: str
    modelscan_status: ModelScanStatus | str
    blob_id: str
    formats: list[str] | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    issues_detected: list[ModelScanIssue] | None = None
    error_message: str | None = None


@attrs.frozen(kw_only=True)
class ScanDetails(WireModel):
    """Results of a client-side scan, submitted with a LOCAL scan.

    Example:
        >>> import datetime as dt
        >>> d = ScanDetails(scanner_version="modelsec/0.1.0",
        ...     time_started=dt.datetime(2026, 5, 4, tzinfo=dt.timezone.utc), files=[],
        ...     total_files_scanned=0, total_files_skipped=0, model_formats=[],
        ...     model_size_bytes=0, scan_duration_ms=1)
        >>> d.to_dict(exclude_none=True)["time_started"]
        '2026-05-04T00:00:00Z'
    """

    scanner_version: str
    time_started: _dt.datetime
    files: list[FileScanData]
    total_files_scanned: int
    total_files_skipped: int
    model_formats: list[str]
    model_size_bytes: int
    scan_duration_ms: int
    error_code: ErrorCode | str | None = None
    error_message: str | None = None


@attrs.frozen(kw_only=True)
class ScanCreateRequest(WireModel):
    """Body of ``POST /v1/scans``."""

    model_uri: str
    security_group_uuid: str
    scan_origin: ScanOrigin | str | None = None
    model_name: str | None = None
    model_author: str | None = None
    model_version: str | None = None
    allow_patterns: list[str] | None = None
    ignore_patterns: list[str] | None = None
    labels: list[Label] | None = None
    scan_details: ScanDetails | None = None


@attrs.frozen(kw_only=True)
class Scan(WireModel):
    """A scan of one model against one security group (``ScanBaseResponseSchema``).

    Example:
        >>> def verdict(scan: Scan) -> str:
        ...     return "wait" if not scan.is_settled else str(scan.eval_outcome)
    """

    uuid: str
    tsg_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    model_uri: str
    owner: str
    scan_origin: ScanOrigin | str
    security_group_uuid: str
    security_group_name: str
    eval_outcome: EvalOutcome | str
    source_type: SourceType | str
    created_by: str | None = None
    enabled_rule_count_snapshot: int | None = None
    error_code: ErrorCode | str | None = None
    error_message: str | None = None
    eval_summary: EvalSummary | None = None
    labels: list[Label] = attrs.field(factory=list)
    model_formats: list[str] | None = None
    model_version_uuid: str | None = None
    scanner_version: str | None = None
    time_started: _dt.datetime | None = None
    total_files_scanned: int | None = None
    total_files_skipped: int | None = None

    @property
    def is_settled(self) -> bool:
        """True once the outcome is ``ALLOWED``, ``BLOCKED`` or ``ERROR``.

        An outcome this SDK does not know is treated as not settled yet.
        """
        return self.eval_outcome in (EvalOutcome.ALLOWED, EvalOutcome.BLOCKED, EvalOutcome.ERROR)


@attrs.frozen(kw_only=True)
class ScanList(WireModel):
    """A page of scans."""

    pagination: Pagination
    scans: list[Scan]
    count_capped: bool = False


@attrs.frozen(kw_only=True)
class RuleEvaluation(WireModel):
    """The result of one rule on one scan."""

    uuid: str
    tsg_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    result: RuleEvaluationResult | str
    violation_count: int
    rule_instance_uuid: str
    scan_uuid: str
    rule_name: str
    rule_description: str
    rule_instance_state: RuleState | str


@attrs.frozen(kw_only=True)
class RuleEvaluationList(WireModel):
    """A page of rule evaluations."""

    pagination: Pagination
    evaluations: list[RuleEvaluation]


@attrs.frozen(kw_only=True)
class ViolationRemediation(WireModel):
    """How to fix a violation: steps and a reference URL."""

    steps: list[str]
    url: str


@attrs.frozen(kw_only=True)
class Violation(WireModel):
    """One finding of one rule on one scan, with its remediation."""

    uuid: str
    tsg_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    description: str
    rule_instance_uuid: str
    rule_name: str
    rule_description: str
    rule_instance_state: RuleState | str
    remediation: ViolationRemediation
    file: str | None = None
    hash: str | None = None
    insights_url: str | None = None
    module: str | None = None
    operator: str | None = None
    threat: ThreatCategory | str | None = None
    threat_description: str | None = None
    threat_kb_url: str | None = None


@attrs.frozen(kw_only=True)
class ViolationList(WireModel):
    """A page of violations."""

    pagination: Pagination
    violations: list[Violation]


@attrs.frozen(kw_only=True)
class File(WireModel):
    """A file or directory of a scanned model version, with its latest result."""

    uuid: str
    tsg_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    path: str
    parent_path: str
    type: FileType | str
    result: FileScanResult | str
    model_version_uuid: str
    blob_id: str | None = None
    formats: list[str] | None = None
    scan_uuid: str | None = None


@attrs.frozen(kw_only=True)
class FileList(WireModel):
    """A page of files."""

    pagination: Pagination
    files: list[File]


@attrs.frozen(kw_only=True)
class LabelsCreateRequest(WireModel):
    """Body of ``POST``/``PUT /v1/scans/{uuid}/labels``."""

    labels: list[Label]


@attrs.frozen(kw_only=True)
class LabelsResponse(WireModel):
    """Answer to a label change (an empty object today; unknown fields kept in ``extra``)."""


@attrs.frozen(kw_only=True)
class LabelKeyList(WireModel):
    """A page of distinct label keys."""

    pagination: Pagination
    keys: list[str]


@attrs.frozen(kw_only=True)
class LabelValueList(WireModel):
    """A page of distinct values of one label key."""

    pagination: Pagination
    values: list[str]


@attrs.frozen(kw_only=True)
class Model(WireModel):
    """A model in the inventory, with facts about its latest version."""

    uuid: str
    tsg_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    name: str
    latest_version_fingerprint: str | None = None
    latest_version_formats: list[str] | None = None
    latest_version_hf_commit_sha: str | None = None
    latest_version_outcome: EvalOutcome | str | None = None
    latest_version_revision: str | None = None
    latest_version_scan_time: _dt.datetime | None = None
    latest_version_source_types: list[Union[SourceType, str]] | None = None
    latest_version_uuid: str | None = None


@attrs.frozen(kw_only=True)
class ModelList(WireModel):
    """A page of models."""

    pagination: Pagination
    models: list[Model]


@attrs.frozen(kw_only=True)
class ModelVersion(WireModel):
    """One version (revision) of a model."""

    uuid: str
    tsg_id: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    revision: str
    model_uuid: str
    file_count: int | None = None
    fingerprint: str | None = None
    hf_commit_authors: list[str] | None = None
    hf_commit_sha: str | None = None
    hf_commit_title: str | None = None
    hf_model_name: str | None = None
    hf_organization: str | None = None
    last_eval_outcome: EvalOutcome | str | None = None
    last_eval_summary: EvalSummary | None = None
    latest_scan_time: _dt.datetime | None = None
    license: str | None = None
    model_formats: list[str] | None = None
    source_types: list[Union[SourceType, str]] | None = None


@attrs.frozen(kw_only=True)
class ModelVersionList(WireModel):
    """A page of model versions."""

    pagination: Pagination
    model_versions: list[ModelVersion]


@attrs.frozen(kw_only=True)
class ValidationErrorItem(WireModel):
    """One entry of FastAPI's 422 ``detail`` list."""

    loc: list[Union[str, int]]
    msg: str
    type: str
    ctx: Mapping[str, Any] | None = None
    input: Any = None


@attrs.frozen(kw_only=True)
class HTTPValidationError(WireModel):
    """FastAPI's 422 body: ``{"detail": [...]}``."""

    detail: list[ValidationErrorItem] = attrs.field(factory=list)
