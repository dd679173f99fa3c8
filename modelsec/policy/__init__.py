"""The policy engine: the built-in rule catalog and the evaluation of one scan.

Works on plain wire-format dicts, so it serves both the emulator and the offline CLI.

Example:
    >>> from modelsec.policy import default_rule_instances, evaluate_scan
    >>> details = {"scanner_version": "t", "time_started": "2026-01-01T00:00:00Z",
    ...     "files": [], "total_files_scanned": 0, "total_files_skipped": 0,
    ...     "model_formats": [], "model_size_bytes": 0, "scan_duration_ms": 0}
    >>> r = evaluate_scan(details, default_rule_instances("HUGGING_FACE"),
    ...     source_type="HUGGING_FACE", metadata={"license": "mit", "organization": "google",
    ...     "model_id": "google/bert"})
    >>> r.outcome, r.summary
    ('ALLOWED', {'rules_passed': 11, 'rules_failed': 0, 'total_rules': 11})
"""

from modelsec.policy.catalog import (
    ALL_SOURCE_TYPES,
    BUILTIN_RULES,
    DEFAULT_APPROVED_FORMATS,
    DEFAULT_APPROVED_LICENSES,
    FORMAT_IDENTIFIERS,
    KNOWN_VERIFIED_ORGS,
    SecurityRule,
    rule_by_name,
    rule_by_uuid,
    rules_for_source,
)
from modelsec.policy.evaluate import (
    THREAT_DESCRIPTIONS,
    CustomRuleInstance,
    EvaluationResult,
    RuleEvaluation,
    RuleInstance,
    SourceMetadata,
    Violation,
    default_rule_instances,
    evaluate_condition,
    evaluate_scan,
    rule_for_threat,
)
from modelsec.policy.policyfile import FIELD_KEYS, Policy, PolicyFileError, load_policy

__all__ = [
    "ALL_SOURCE_TYPES",
    "BUILTIN_RULES",
    "DEFAULT_APPROVED_FORMATS",
    "DEFAULT_APPROVED_LICENSES",
    "FIELD_KEYS",
    "FORMAT_IDENTIFIERS",
    "KNOWN_VERIFIED_ORGS",
    "THREAT_DESCRIPTIONS",
    "CustomRuleInstance",
    "EvaluationResult",
    "Policy",
    "PolicyFileError",
    "RuleEvaluation",
    "RuleInstance",
    "SecurityRule",
    "SourceMetadata",
    "Violation",
    "default_rule_instances",
    "evaluate_condition",
    "evaluate_scan",
    "load_policy",
    "rule_by_name",
    "rule_by_uuid",
    "rule_for_threat",
    "rules_for_source",
]
