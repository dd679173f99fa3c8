"""The neutral result shape of ``modelsec scan``: one :class:`Report` of :class:`ModelResult`.

Both the online mode and ``--offline`` build these (the gate and the BOM read them too);
the exit codes and the JSON shape of ``to_dict`` are documented in :mod:`modelsec.cli.formats`.
Kept apart from the renderers (:mod:`modelsec.cli.formats`, :mod:`modelsec.cli.sarif`), which
only read this shape.

Example:
    >>> r = Report(mode="online", results=[ModelResult(target="m", outcome="ERROR")])
    >>> r.exit_code, r.summary()["errors"]
    (2, 1)
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from modelsec._version import __version__

__all__ = ["EXIT_ALLOWED", "EXIT_BLOCKED", "EXIT_ERROR", "ModelResult", "Report", "ViolationRecord"]

EXIT_ALLOWED = 0
EXIT_BLOCKED = 1
EXIT_ERROR = 2


@dataclass
class ViolationRecord:
    """One rule violation, whatever produced it (service or offline policy engine)."""

    rule_name: str
    rule_instance_state: str
    description: str
    file: str | None = None
    threat: str | None = None
    threat_description: str | None = None
    module: str | None = None
    operator: str | None = None
    rule_description: str | None = None
    remediation_steps: list[str] = field(default_factory=list)
    remediation_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape documented in :mod:`modelsec.cli.formats`."""
        return {
            "rule_name": self.rule_name,
            "rule_instance_state": self.rule_instance_state,
            "description": self.description,
            "file": self.file,
            "threat": self.threat,
            "threat_description": self.threat_description,
            "module": self.module,
            "operator": self.operator,
            "remediation": {"steps": list(self.remediation_steps), "url": self.remediation_url},
        }


@dataclass
class ModelResult:
    """The verdict on one target.

    ``outcome`` is ``ALLOWED``, ``BLOCKED``, ``ERROR`` or ``TIMEOUT``. ``settled`` tells an
    ERROR the service (or offline scanner) decided apart from a failure to get any verdict.
    """

    target: str
    outcome: str
    source_type: str | None = None
    scan_uuid: str | None = None
    security_group_uuid: str | None = None
    security_group_name: str | None = None
    eval_summary: dict[str, int] | None = None
    error_code: str | None = None
    error_message: str | None = None
    settled: bool = True
    violations: list[ViolationRecord] = field(default_factory=list)
    model_formats: list[str] = field(default_factory=list)
    files_scanned: int | None = None
    files_skipped: int | None = None
    duration_seconds: float | None = None
    local_path: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)  # scanner's per-file records (BOM)

    def exit_code(self, *, block_on_errors: bool = False) -> int:
        """0 allowed, 1 blocked, 2 error/timeout (see :mod:`modelsec.cli.formats`)."""
        if self.outcome == "ALLOWED":
            return EXIT_ALLOWED
        if self.outcome == "BLOCKED":
            return EXIT_BLOCKED
        if self.outcome == "ERROR" and self.settled and block_on_errors:
            return EXIT_BLOCKED
        return EXIT_ERROR

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape documented in :mod:`modelsec.cli.formats`."""
        error = None
        if self.error_code or self.error_message:
            error = {"code": self.error_code, "message": self.error_message}
        return {
            "target": self.target,
            "outcome": self.outcome,
            "source_type": self.source_type,
            "scan_uuid": self.scan_uuid,
            "security_group_uuid": self.security_group_uuid,
            "security_group_name": self.security_group_name,
            "eval_summary": self.eval_summary,
            "error": error,
            "model_formats": list(self.model_formats),
            "files_scanned": self.files_scanned,
            "files_skipped": self.files_skipped,
            "duration_seconds": None
            if self.duration_seconds is None
            else round(self.duration_seconds, 3),
            "violations": [v.to_dict() for v in self.violations],
        }


@dataclass
class Report:
    """Every verdict of one ``modelsec scan`` run."""

    mode: str
    results: list[ModelResult]
    block_on_errors: bool = False
    started_at: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc))
    finished_at: _dt.datetime | None = None
    command_line: str | None = None

    @property
    def exit_code(self) -> int:
        """The worst exit code of the results (2 > 1 > 0); 2 when there are none."""
        if not self.results:
            return EXIT_ERROR
        return max(r.exit_code(block_on_errors=self.block_on_errors) for r in self.results)

    @property
    def outcome(self) -> str:
        """``ALLOWED``, ``BLOCKED`` or ``ERROR`` for the whole run."""
        return {EXIT_ALLOWED: "ALLOWED", EXIT_BLOCKED: "BLOCKED"}.get(self.exit_code, "ERROR")

    def summary(self) -> dict[str, int]:
        """Counts by outcome."""
        outcomes = [r.outcome for r in self.results]
        return {
            "total": len(outcomes),
            "allowed": outcomes.count("ALLOWED"),
            "blocked": outcomes.count("BLOCKED"),
            "errors": outcomes.count("ERROR"),
            "timeouts": outcomes.count("TIMEOUT"),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape documented in :mod:`modelsec.cli.formats`."""
        return {
            "version": 1,
            "tool": {"name": "modelsec", "version": __version__},
            "mode": self.mode,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "results": [r.to_dict() for r in self.results],
        }
