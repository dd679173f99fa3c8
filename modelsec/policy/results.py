"""What judging a scan gives: violations, per-rule evaluations and the outcome of the scan.

Returned by :func:`modelsec.policy.evaluate.evaluate_scan`; each has a ``to_dict`` with the
wire-format fields the emulator stores and the offline CLI prints. Kept apart from the judging
(:mod:`modelsec.policy.evaluate`) so that readers of results need not import it.

Example:
    >>> r = EvaluationResult("ALLOWED", [RuleEvaluation(rule_uuid="u", rule_name="n",
    ...     rule_description="", rule_instance_uuid=None, rule_instance_state="BLOCKING",
    ...     result="PASSED")])
    >>> r.summary, r.blocking_failures
    ({'rules_passed': 1, 'rules_failed': 0, 'total_rules': 1}, [])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvaluationResult", "RuleEvaluation", "Violation"]


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
