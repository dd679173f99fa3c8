"""Evaluation of one scan: scan details + rule instances + source metadata -> outcome.

Everything here works on plain wire-format dicts (``scan_details`` as in the spec's
``ScanDetails`` schema), so the offline CLI can call it with ``ScanDetails.to_dict()`` and the
emulator with the JSON body it received.

How threat codes map to rules is in :mod:`modelsec.policy.threats`; what a scan is judged
against in :mod:`modelsec.policy.inputs`, what judging gives in :mod:`modelsec.policy.results`.
Every name is importable from here.

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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelsec.policy.catalog import KNOWN_VERIFIED_ORGS
from modelsec.policy.inputs import (
    CustomRuleInstance,
    RuleInstance,
    SourceMetadata,
    default_rule_instances,
)
from modelsec.policy.results import EvaluationResult, RuleEvaluation, Violation, _blocks
from modelsec.policy.threats import BACKDOOR as BACKDOOR
from modelsec.policy.threats import FORMATS, THREAT_DESCRIPTIONS, rule_for_threat
from modelsec.policy.threats import LOAD_TIME as LOAD_TIME
from modelsec.policy.threats import OPERATORS as OPERATORS
from modelsec.policy.threats import RUNTIME as RUNTIME
from modelsec.policy.threats import SUSPICIOUS as SUSPICIOUS

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

LOCATION = "Stored In Approved Location"
LICENSE_EXISTS = "License Exists"
LICENSE_VALID = "License Is Valid For Use"
MODEL_BLOCKED = "Model Is Blocked"
ORG_VERIFIED = "Organization Verified By Hugging Face"
ORG_BLOCKED = "Organization Is Blocked"


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
