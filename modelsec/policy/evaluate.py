"""Evaluation of one scan: scan details + rule instances + source metadata -> outcome.

Everything here works on plain wire-format dicts (``scan_details`` as in the spec's
``ScanDetails`` schema), so the offline CLI can call it with ``ScanDetails.to_dict()`` and the
emulator with the JSON body it received.

How threats map to rules (by family of the threat code ``PAIT-<FMT>-<NNN>``):

* 1xx load-time codes (and ``PAIT-ARV-100``) -> *Load Time Code Execution Check*; the
  ``-101`` "suspicious" codes of pickle-like formats (PKL, PYTCH, JOBLIB, EXDIR, CFG) ->
  *Suspicious Model Components Check*;
* 2xx -> *Model Architecture Backdoor Check*;
* 3xx -> *Runtime Code Execution Check*, except the unknown-operator codes (``PAIT-TF-301``,
  ``PAIT-LITERT-301``) -> *Known Framework Operators Check*;
* issues without a threat code -> *Suspicious Model Components Check*;
* ``UNAPPROVED_FORMATS`` and the files' ``formats`` -> *Stored In Approved File Format*.

Example:
    >>> from modelsec.policy import default_rule_instances, evaluate_scan
    >>> details = {"scanner_version": "t", "time_started": "2026-01-01T00:00:00Z",
    ...     "total_files_scanned": 1, "total_files_skipped": 0, "model_formats": ["pickle"],
    ...     "model_size_bytes": 10, "scan_duration_ms": 1, "files": [{"file_path":
    ...     "pytorch_model.bin", "modelscan_status": "SCANNED", "blob_id": "b1",
    ...     "formats": ["pickle"], "sha256": "ab", "issues_detected": []}]}
    >>> r = evaluate_scan(details, default_rule_instances("LOCAL"), source_type="LOCAL",
    ...     model_uri="/models/m")
    >>> r.outcome, r.violations[0].description
    ('BLOCKED', "Model file 'pytorch_model.bin' is stored in an unapproved format: pickle")
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelsec.policy.catalog import (
    KNOWN_VERIFIED_ORGS,
    SecurityRule,
    rule_by_name,
    rule_by_uuid,
    rules_for_source,
)

__all__ = [
    "THREAT_DESCRIPTIONS",
    "CustomRuleInstance",
    "EvaluationResult",
    "RuleEvaluation",
    "RuleInstance",
    "SourceMetadata",
    "Violation",
    "default_rule_instances",
    "evaluate_condition",
    "evaluate_scan",
    "rule_for_threat",
]

LOAD_TIME = "Load Time Code Execution Check"
RUNTIME = "Runtime Code Execution Check"
BACKDOOR = "Model Architecture Backdoor Check"
OPERATORS = "Known Framework Operators Check"
SUSPICIOUS = "Suspicious Model Components Check"
FORMATS = "Stored In Approved File Format"
LOCATION = "Stored In Approved Location"
LICENSE_EXISTS = "License Exists"
LICENSE_VALID = "License Is Valid For Use"
MODEL_BLOCKED = "Model Is Blocked"
ORG_VERIFIED = "Organization Verified By Hugging Face"
ORG_BLOCKED = "Organization Is Blocked"

#: Short descriptions of the threat codes (``threat_description`` on violations).
THREAT_DESCRIPTIONS: Mapping[str, str] = {
    "PAIT-PKL-100": "Pickle file with unsafe code that runs when it is loaded",
    "PAIT-PKL-101": "Pickle file with suspicious code reachable when it is loaded",
    "PAIT-PYTCH-100": "PyTorch model with unsafe code that runs when it is loaded",
    "PAIT-PYTCH-101": "PyTorch model with suspicious code reachable when it is loaded",
    "PAIT-JOBLIB-100": "Joblib file with unsafe code that runs when it is loaded",
    "PAIT-JOBLIB-101": "Joblib file with suspicious code reachable when it is loaded",
    "PAIT-KERAS-100": "Keras model that executes code when it is loaded",
    "PAIT-KERAS-101": "Keras model with unsafe layers that execute code at load",
    "PAIT-KERAS-102": "Legacy Keras model carrying pickled code",
    "PAIT-GGUF-100": "GGUF file with a load-time issue",
    "PAIT-GGUF-101": "GGUF chat template (Jinja) that can execute code",
    "PAIT-EXDIR-100": "EXDIR model with unsafe code",
    "PAIT-EXDIR-101": "EXDIR model with suspicious code",
    "PAIT-ARV-100": "Archive member that would be written outside the extraction directory",
    "PAIT-PY-100": "Python code shipped with the model that runs unsafe operations when it loads",
    "PAIT-PY-300": "Python code a loader executes that runs unsafe operations when called",
    "PAIT-CFG-100": "Configuration that makes the loader construct or call unsafe code",
    "PAIT-CFG-101": "Configuration naming types not known to be safe to instantiate",
    "PAIT-ONNX-200": "ONNX model with an architectural backdoor",
    "PAIT-TF-200": "TensorFlow SavedModel with an architectural backdoor",
    "PAIT-KERAS-300": "Keras Lambda layer that runs code at inference",
    "PAIT-KERAS-301": "Keras custom layer bypassing safe_mode (CVE-2025-1550)",
    "PAIT-TF-300": "TensorFlow SavedModel that executes code at inference",
    "PAIT-TF-301": "TensorFlow SavedModel using unknown operators",
    "PAIT-TF-302": "TensorFlow SavedModel with file system operations",
    "PAIT-LITERT-300": "LiteRT model that executes code at inference",
    "PAIT-LITERT-301": "LiteRT model using unknown operators",
    "PAIT-LITERT-302": "LiteRT model with file system operations",
    "PAIT-TCHST-300": "TorchScript model that executes code at inference",
    "PAIT-TCHST-301": "TorchScript model with suspicious operations",
    "PAIT-TMT-300": "TMT model that executes code at inference",
    "PAIT-TMT-301": "TMT model with suspicious operations",
    "PAIT-LMAFL-300": "llamafile executable that runs code",
    "UNAPPROVED_FORMATS": "Model file stored in a format that is not approved",
}

_THREAT_RE = re.compile(r"^PAIT-([A-Z0-9]+)-(\d)(\d\d)$")
_SUSPICIOUS_FORMATS = frozenset({"PKL", "PYTCH", "JOBLIB", "EXDIR", "CFG"})
_UNKNOWN_OPERATOR_CODES = frozenset({"PAIT-TF-301", "PAIT-LITERT-301"})


def rule_for_threat(threat: str | None) -> str:
    """The name of the built-in rule that judges issues with this threat code.

    Example:
        >>> rule_for_threat("PAIT-PKL-100"), rule_for_threat("PAIT-ONNX-200")
        ('Load Time Code Execution Check', 'Model Architecture Backdoor Check')
        >>> rule_for_threat("PAIT-TF-301"), rule_for_threat(None)
        ('Known Framework Operators Check', 'Suspicious Model Components Check')
    """
    if not threat:
        return SUSPICIOUS
    if threat == "UNAPPROVED_FORMATS":
        return FORMATS
    if threat in _UNKNOWN_OPERATOR_CODES:
        return OPERATORS
    m = _THREAT_RE.match(threat)
    if not m:
        return SUSPICIOUS
    fmt, family, rest = m.group(1), m.group(2), m.group(3)
    if family == "1":
        if rest == "01" and fmt in _SUSPICIOUS_FORMATS:
            return SUSPICIOUS
        return LOAD_TIME
    if family == "2":
        return BACKDOOR
    if family == "3":
        return RUNTIME
    return SUSPICIOUS


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


@dataclass
class Violation:
    """One finding of one rule (the wire ``ViolationResponseSchema`` minus ids and times)."""

    description: str
    rule_uuid: str
    rule_name: str
    rule_description: str
    rule_instance_uuid: str | None
    rule_instance_state: str
    remediation_steps: list[str]
    remediation_url: str
    file: str | None = None
    hash: str | None = None
    module: str | None = None
    operator: str | None = None
    threat: str | None = None
    threat_description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Wire-format fields (no uuid/tsg/timestamps)."""
        return {
            "description": self.description,
            "rule_instance_uuid": self.rule_instance_uuid,
            "rule_name": self.rule_name,
            "rule_description": self.rule_description,
            "rule_instance_state": self.rule_instance_state,
            "remediation": {"steps": list(self.remediation_steps), "url": self.remediation_url},
            "file": self.file,
            "hash": self.hash,
            "module": self.module,
            "operator": self.operator,
            "threat": self.threat,
            "threat_description": self.threat_description,
        }


@dataclass
class RuleEvaluation:
    """The result of one rule instance: PASSED, FAILED or ERROR, with its violations."""

    rule_uuid: str
    rule_name: str
    rule_description: str
    rule_instance_uuid: str | None
    rule_instance_state: str
    result: str
    violations: list[Violation] = field(default_factory=list)
    custom: bool = False
    message: str | None = None

    @property
    def violation_count(self) -> int:
        """Number of violations."""
        return len(self.violations)

    def to_dict(self) -> dict[str, Any]:
        """Wire-format fields of ``RuleEvaluationResponseSchema`` (no ids/times)."""
        return {
            "result": self.result,
            "violation_count": self.violation_count,
            "rule_instance_uuid": self.rule_instance_uuid,
            "rule_name": self.rule_name,
            "rule_description": self.rule_description,
            "rule_instance_state": self.rule_instance_state,
        }


@dataclass
class EvaluationResult:
    """Outcome of a scan with per-rule evaluations and all violations.

    ``summary`` is the wire ``EvalSummarySchema`` (rules_passed, rules_failed, total_rules).
    """

    outcome: str
    evaluations: list[RuleEvaluation]
    error_code: str | None = None
    error_message: str | None = None

    @property
    def violations(self) -> list[Violation]:
        """All violations, rule by rule."""
        return [v for e in self.evaluations for v in e.violations]

    @property
    def summary(self) -> dict[str, int]:
        """``{"rules_passed", "rules_failed", "total_rules"}``."""
        return {
            "rules_passed": sum(1 for e in self.evaluations if e.result == "PASSED"),
            "rules_failed": sum(1 for e in self.evaluations if e.result == "FAILED"),
            "total_rules": len(self.evaluations),
        }

    @property
    def blocking_failures(self) -> list[RuleEvaluation]:
        """Failed evaluations of BLOCKING rule instances."""
        return [e for e in self.evaluations if e.result == "FAILED" and _blocks(e)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (used by the CLI's offline mode)."""
        return {
            "eval_outcome": self.outcome,
            "eval_summary": self.summary,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "evaluations": [e.to_dict() for e in self.evaluations],
            "violations": [v.to_dict() for v in self.violations],
        }


def _blocks(e: RuleEvaluation) -> bool:
    return e.rule_instance_state == "BLOCKING"


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


def _file_key(f: Mapping[str, Any]) -> str:
    return str(f.get("file_path") or "")


def _issue_violation(ri: RuleInstance, f: Mapping[str, Any], issue: Mapping[str, Any]) -> Violation:
    threat = issue.get("threat")
    return _make_violation(
        ri,
        str(issue.get("description") or "Issue detected"),
        file=_file_key(f) or issue.get("source"),
        hash=f.get("sha256"),
        module=issue.get("module"),
        operator=issue.get("operator"),
        threat=threat,
    )


def _make_violation(
    ri: RuleInstance,
    description: str,
    *,
    file: Any = None,
    hash: Any = None,
    module: Any = None,
    operator: Any = None,
    threat: Any = None,
) -> Violation:
    return Violation(
        description=description,
        rule_uuid=ri.rule.uuid,
        rule_name=ri.rule.name,
        rule_description=ri.rule.description,
        rule_instance_uuid=ri.uuid,
        rule_instance_state=ri.state,
        remediation_steps=list(ri.rule.remediation_steps),
        remediation_url=ri.rule.remediation_url,
        file=str(file)[:256] if file is not None else None,
        hash=str(hash) if hash is not None else None,
        module=str(module) if module is not None else None,
        operator=str(operator) if operator is not None else None,
        threat=str(threat) if threat is not None else None,
        threat_description=THREAT_DESCRIPTIONS.get(str(threat)) if threat else None,
    )


def _norm_license(s: str) -> str:
    return s.strip().lower()


def _matches_model(patterns: Iterable[str], model_id: str | None, org: str | None) -> bool:
    ids = {x.lower() for x in (model_id, org) if x}
    for p in patterns:
        p = p.strip().lower()
        if not p:
            continue
        for i in ids:
            if i == p or fnmatch.fnmatchcase(i, p):
                return True
    return False


def _judge_builtin(
    ri: RuleInstance,
    files: Sequence[Mapping[str, Any]],
    *,
    model_uri: str,
    meta: SourceMetadata,
) -> RuleEvaluation:
    name = ri.rule.name
    viol: list[Violation] = []
    errored = False
    if ri.rule.rule_type == "ARTIFACT" and name != LOCATION:
        for f in files:
            if f.get("modelscan_status") == "ERROR":
                errored = True
            if name == FORMATS:
                approved = {x.lower() for x in ri.value("approved_formats")}
                bad = [x for x in (f.get("formats") or []) if str(x).lower() not in approved]
                if bad:
                    viol.append(
                        _make_violation(
                            ri,
                            f"Model file '{_file_key(f)}' is stored in an unapproved format: "
                            + ", ".join(str(b) for b in bad),
                            file=_file_key(f),
                            hash=f.get("sha256"),
                            threat="UNAPPROVED_FORMATS",
                        )
                    )
                continue
            for issue in f.get("issues_detected") or []:
                threat = issue.get("threat")
                if threat == "UNAPPROVED_FORMATS":
                    continue  # judged from ``formats`` against this group's approved list
                if rule_for_threat(threat) == name:
                    viol.append(_issue_violation(ri, f, issue))
    elif name == LOCATION:
        locations = [x for x in ri.value("approved_locations") if x]
        if not any(model_uri.startswith(loc) for loc in locations):
            viol.append(
                _make_violation(ri, f"Model '{model_uri}' is not stored in an approved location")
            )
    elif name == LICENSE_EXISTS:
        if not (meta.license and meta.license.strip()):
            viol.append(_make_violation(ri, f"Model '{meta.model_id or model_uri}' has no license"))
    elif name == LICENSE_VALID:
        if meta.license and meta.license.strip():
            approved = {_norm_license(x) for x in ri.value("approved_licenses")}
            if _norm_license(meta.license) not in approved:
                viol.append(
                    _make_violation(
                        ri,
                        f"Model '{meta.model_id or model_uri}' has license '{meta.license}', "
                        "which is not approved for use",
                    )
                )
    elif name == MODEL_BLOCKED:
        if meta.model_id and _matches_model(ri.value("denied_org_models"), meta.model_id, None):
            viol.append(_make_violation(ri, f"Model '{meta.model_id}' is blocked"))
    elif name == ORG_VERIFIED:
        org = meta.organization
        verified = meta.organization_verified
        if verified is None:
            verified = org is not None and org.lower() in KNOWN_VERIFIED_ORGS
        approved_orgs = ri.value("approved_org_models")
        if not verified and not _matches_model(approved_orgs, meta.model_id, org):
            viol.append(
                _make_violation(
                    ri, f"Organization '{org or 'unknown'}' is not verified by Hugging Face"
                )
            )
    elif name == ORG_BLOCKED:
        org = meta.organization
        if org and org.lower() in {x.strip().lower() for x in ri.value("deny_orgs")}:
            viol.append(_make_violation(ri, f"Organization '{org}' is blocked"))
    if viol:
        result = "FAILED"
    elif errored:
        result = "ERROR"
    else:
        result = "PASSED"
    return RuleEvaluation(
        rule_uuid=ri.rule.uuid,
        rule_name=name,
        rule_description=ri.rule.description,
        rule_instance_uuid=ri.uuid,
        rule_instance_state=ri.state,
        result=result,
        violations=viol,
    )


def evaluate_condition(
    condition: Mapping[str, Any] | None,
    labels: Mapping[str, str],
    rule_results: Mapping[str, str],
) -> bool:
    """Evaluate a custom-rule condition (``CustomRuleCondition`` schema).

    ``labels`` are the scan's labels; ``rule_results`` maps security-rule UUIDs (and custom
    rule UUIDs evaluated before) to ``PASSED``/``FAILED``. A ``rule_result`` condition on a rule
    that was not evaluated (disabled or not in the group) is false.

    Example:
        >>> evaluate_condition({"operator": "or", "conditions": [
        ...     {"type": "label", "key": "env", "operator": "equals", "value": "prod"},
        ...     {"type": "label", "key": "reviewed", "operator": "exists"}]},
        ...     {"env": "prod"}, {})
        True
    """
    if not condition:
        return False
    op = condition.get("operator")
    if "conditions" in condition and op in ("and", "or"):
        subs = [evaluate_condition(c, labels, rule_results) for c in condition["conditions"]]
        return all(subs) if op == "and" else any(subs)
    kind = condition.get("type")
    if kind == "label":
        key = str(condition.get("key"))
        value = condition.get("value")
        if op == "exists":
            return key in labels
        if op == "not_exists":
            return key not in labels
        if op == "equals":
            return key in labels and labels[key] == value
        if op == "not_equals":
            return labels.get(key) != value
        return False
    if kind == "rule_result":
        got = rule_results.get(str(condition.get("rule_uuid", "")).lower())
        return got is not None and got == condition.get("value")
    return False


def _judge_custom(
    ci: CustomRuleInstance, labels: Mapping[str, str], rule_results: Mapping[str, str]
) -> RuleEvaluation:
    rule = ci.rule
    matched = evaluate_condition(rule.get("condition"), labels, rule_results)
    action = rule.get("rule_action") or "FAIL"
    failed = matched if action == "FAIL" else not matched
    viol: list[Violation] = []
    if failed:
        rem = rule.get("remediation_message")
        viol.append(
            Violation(
                description=str(rule.get("violation_message") or "Custom rule violated"),
                rule_uuid=str(rule.get("uuid", "")),
                rule_name=str(rule.get("name", "")),
                rule_description=str(rule.get("description") or ""),
                rule_instance_uuid=ci.uuid,
                rule_instance_state=ci.state,
                remediation_steps=[str(rem)] if rem else [],
                remediation_url="",
            )
        )
    return RuleEvaluation(
        rule_uuid=str(rule.get("uuid", "")),
        rule_name=str(rule.get("name", "")),
        rule_description=str(rule.get("description") or ""),
        rule_instance_uuid=ci.uuid,
        rule_instance_state=ci.state,
        result="FAILED" if failed else "PASSED",
        violations=viol,
        custom=True,
    )


def _labels_map(labels: Mapping[str, str] | Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    if labels is None:
        return {}
    if isinstance(labels, Mapping):
        return {str(k): str(v) for k, v in labels.items()}
    return {str(x["key"]): str(x["value"]) for x in labels}


def evaluate_scan(
    scan_details: Mapping[str, Any] | None,
    rule_instances: Sequence[RuleInstance | Mapping[str, Any]],
    *,
    source_type: str,
    model_uri: str = "",
    metadata: SourceMetadata | Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | Iterable[Mapping[str, Any]] | None = None,
    custom_rules: Sequence[CustomRuleInstance] = (),
) -> EvaluationResult:
    """Judge one scan.

    ``rule_instances`` are :class:`RuleInstance` objects or wire dicts; DISABLED ones and those
    not compatible with ``source_type`` are skipped. Metadata rules only run for
    ``HUGGING_FACE``. The outcome is ``ERROR`` when the scan itself failed
    (``scan_details`` missing or carrying an ``error_code``), ``BLOCKED`` when a BLOCKING rule
    (built-in or custom) FAILED, else ``ALLOWED``.

    Example:
        >>> r = evaluate_scan(None, [], source_type="LOCAL")
        >>> r.outcome, r.error_code
        ('ERROR', 'MISSING_ARTIFACTS')
    """
    if scan_details is None:
        return EvaluationResult(
            "ERROR", [], "MISSING_ARTIFACTS", "No scan details: the model could not be scanned"
        )
    if scan_details.get("error_code"):
        return EvaluationResult(
            "ERROR",
            [],
            str(scan_details["error_code"]),
            str(scan_details.get("error_message") or "The scan failed"),
        )
    files = list(scan_details.get("files") or [])
    meta = SourceMetadata.coerce(metadata)
    instances = [
        ri if isinstance(ri, RuleInstance) else RuleInstance.from_wire(ri) for ri in rule_instances
    ]
    evaluations: list[RuleEvaluation] = []
    for ri in instances:
        if ri.state == "DISABLED" or not ri.rule.applies_to(source_type):
            continue
        if ri.rule.rule_type == "METADATA" and source_type not in ("HUGGING_FACE", "ALL"):
            continue
        evaluations.append(_judge_builtin(ri, files, model_uri=model_uri, meta=meta))
    results: dict[str, str] = {e.rule_uuid.lower(): e.result for e in evaluations}
    lab = _labels_map(labels)
    for ci in custom_rules:
        if ci.state == "DISABLED":
            continue
        sources = ci.rule.get("compatible_sources") or ["ALL"]
        if "ALL" not in sources and source_type not in sources and source_type != "ALL":
            continue
        ev = _judge_custom(ci, lab, results)
        results[ev.rule_uuid.lower()] = ev.result
        evaluations.append(ev)
    blocked = any(e.result == "FAILED" and _blocks(e) for e in evaluations)
    return EvaluationResult("BLOCKED" if blocked else "ALLOWED", evaluations)
