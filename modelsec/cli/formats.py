"""Reports of ``modelsec scan``: one neutral result shape, four renderers.

Both the online mode (scans through the service) and ``--offline`` (local scanner + policy
engine) build a :class:`Report` of :class:`ModelResult` objects; :func:`render` turns it into
``text``, ``json``, ``sarif`` (2.1.0) or ``junit`` (XML).

Exit codes (:attr:`Report.exit_code`): ``0`` every model ALLOWED, ``1`` some model BLOCKED (and
none failed), ``2`` some scan ended in ERROR, timed out or could not be run. With
``--block-on-errors`` a scan that *the service (or the offline scanner) settled* as ERROR counts
as BLOCKED (``1``); timeouts and failures to reach the service still give ``2``.

JSON shape (``--format json``), stable and versioned::

    {
      "version": 1,
      "tool": {"name": "modelsec", "version": "0.1.0"},
      "mode": "online" | "offline",
      "outcome": "ALLOWED" | "BLOCKED" | "ERROR",     # the verdict of the whole run
      "exit_code": 0 | 1 | 2,
      "summary": {"total": 2, "allowed": 1, "blocked": 1, "errors": 0, "timeouts": 0},
      "results": [                                     # one per target, in input order
        {
          "target": "./models/bert",                   # as given on the command line
          "outcome": "ALLOWED" | "BLOCKED" | "ERROR" | "TIMEOUT",
          "source_type": "LOCAL",                      # or HUGGING_FACE, S3, ... (null if unknown)
          "scan_uuid": "…" | null,                     # null offline or when no scan was created
          "security_group_uuid": "…" | null,
          "security_group_name": "Default LOCAL" | null,
          "eval_summary": {"rules_passed": 6, "rules_failed": 0, "total_rules": 6} | null,
          "error": {"code": "MISSING_ARTIFACTS", "message": "…"} | null,
          "model_formats": ["safetensors", "json"],
          "files_scanned": 2 | null,
          "files_skipped": 0 | null,
          "duration_seconds": 1.23 | null,
          "violations": [
            {
              "rule_name": "Load Time Code Execution Check",
              "rule_instance_state": "BLOCKING" | "ALLOWING",
              "description": "…",
              "file": "model.pkl" | null,              # relative to the target
              "threat": "PAIT-PKL-100" | null,
              "threat_description": "…" | null,
              "module": "os" | null,
              "operator": "system" | null,
              "remediation": {"steps": ["…"], "url": "https://…" | null}
            }
          ]
        }
      ]
    }

SARIF puts each violation on the file it was found in (``physicalLocation.artifactLocation``:
the target path joined with the violation's file for local models -- relative to the working
directory with ``uriBaseId`` ``%SRCROOT%`` (declared in ``run.originalUriBaseIds``) when it lies
under it, an absolute ``file:`` URI otherwise -- and the model URI for remote models),
with the rule as ``ruleId`` (a stable slug of the rule name), the threat code and module/operator
in ``properties``, and the remediation as the rule's ``help``/``helpUri``. A BLOCKING rule gives
level ``error``, an ALLOWING one ``warning``. Scans that could not be judged become
``toolExecutionNotifications`` of the invocation. JUnit gives one ``<testcase>`` per model:
BLOCKED is a ``<failure>``, ERROR/TIMEOUT an ``<error>`` (a ``<failure>`` with
``--block-on-errors`` for settled ERRORs).

Example:
    >>> r = Report(mode="offline", results=[ModelResult(target="m", outcome="ALLOWED")])
    >>> r.exit_code, r.outcome
    (0, 'ALLOWED')
    >>> import json
    >>> json.loads(render(r, "json"))["summary"]["allowed"]
    1
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelsec._version import __version__

__all__ = [
    "FORMATS",
    "ModelResult",
    "Report",
    "ViolationRecord",
    "render",
    "render_json",
    "render_junit",
    "render_sarif",
    "render_text",
    "rule_id",
    "safe_text",
]

FORMATS = ("text", "json", "sarif", "junit", "cyclonedx")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/modelsec/modelsec"

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
        """The JSON shape documented in the module docstring."""
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
        """0 allowed, 1 blocked, 2 error/timeout (see the module docstring)."""
        if self.outcome == "ALLOWED":
            return EXIT_ALLOWED
        if self.outcome == "BLOCKED":
            return EXIT_BLOCKED
        if self.outcome == "ERROR" and self.settled and block_on_errors:
            return EXIT_BLOCKED
        return EXIT_ERROR

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape documented in the module docstring."""
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
        """The JSON shape documented in the module docstring."""
        return {
            "version": 1,
            "tool": {"name": "modelsec", "version": __version__},
            "mode": self.mode,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "results": [r.to_dict() for r in self.results],
        }


# ---------------------------------------------------------------------------------- text


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    named = _NAMED_ESCAPES.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(text: object) -> str:
    """Untrusted text (names from inside a model, messages from the service) fit for a terminal.

    Every character that is not printable -- ESC and the other C0/C1 controls, newlines, bidi
    overrides and other format characters -- is written as a Python escape. A file name can
    then neither rewrite the screen nor start a line that GitHub Actions reads as a workflow
    command (``::error::...``). Every text output of the CLI (reports, tables, errors) prints
    such strings through this one function; JSON and SARIF are escaped by the JSON encoder.

    Example:
        >>> safe_text("model\\x1b[2J\\n::error::pwned.pkl")
        'model\\\\x1b[2J\\\\n::error::pwned.pkl'
        >>> safe_text("caf\\u00e9 \\u202egnp.exe")
        'café \\\\u202egnp.exe'
    """
    value = str(text)
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in value)


_COLOURS = {"ALLOWED": "32", "BLOCKED": "31", "ERROR": "33", "TIMEOUT": "33"}


def _paint(text: str, outcome: str, colour: bool) -> str:
    code = _COLOURS.get(outcome)
    return f"\x1b[1;{code}m{text}\x1b[0m" if colour and code else text


def render_text(report: Report, *, colour: bool = False) -> str:
    """A human summary: one verdict line per model, its violations, then a total line.

    Example:
        >>> print(render_text(Report("offline", [ModelResult(target="m", outcome="ALLOWED")])))
        ALLOWED  m
        <BLANKLINE>
        1 model: 1 allowed
    """
    lines: list[str] = []
    t = safe_text  # every string below may come from a model or the service
    for r in report.results:
        head = f"{_paint(f'{t(r.outcome):<8}', r.outcome, colour)} {t(r.target)}"
        extra = []
        if r.security_group_name:
            extra.append(f"group {t(r.security_group_name)}")
        if r.scan_uuid:
            extra.append(f"scan {t(r.scan_uuid)}")
        if r.eval_summary:
            s = r.eval_summary
            extra.append(f"{s.get('rules_failed', 0)}/{s.get('total_rules', 0)} rules failed")
        if extra:
            head += f"  ({', '.join(extra)})"
        lines.append(head.rstrip())
        if r.error_code or r.error_message:
            code, message = t(r.error_code or "ERROR"), t(r.error_message or "")
            lines.append(f"  error: {code}: {message}".rstrip())
        for v in r.violations:
            where = []
            if v.file:
                where.append(t(v.file))
            if v.threat:
                where.append(t(v.threat))
            suffix = f" [{', '.join(where)}]" if where else ""
            lines.append(
                f"  - {t(v.rule_instance_state)} {t(v.rule_name)}: {t(v.description)}{suffix}"
            )
            for step in v.remediation_steps[:3]:
                lines.append(f"      fix: {t(step)}")
    s = report.summary()
    parts = [
        f"{s[k]} {label}"
        for k, label in (
            ("allowed", "allowed"),
            ("blocked", "blocked"),
            ("errors", "error" if s["errors"] == 1 else "errors"),
            ("timeouts", "timed out"),
        )
        if s[k]
    ]
    noun = "model" if s["total"] == 1 else "models"
    lines.append("")
    lines.append(f"{s['total']} {noun}: {', '.join(parts) or 'nothing scanned'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- json


def render_json(report: Report) -> str:
    """The documented JSON shape, indented."""
    return json.dumps(report.to_dict(), indent=2, default=str)


# ---------------------------------------------------------------------------------- sarif


def rule_id(rule_name: str) -> str:
    """A stable SARIF rule id from a rule name.

    Example:
        >>> rule_id("Load Time Code Execution Check")
        'modelsec/load-time-code-execution-check'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", rule_name.lower()).strip("-") or "rule"
    return f"modelsec/{slug}"


_URI_SAFE = "/:@!$&'()*+,;=-._~"

#: The base of relative artifact URIs: the working directory of the run (a checkout's root in
#: CI), declared in ``run.originalUriBaseIds`` as code-scanning tools expect.
SRCROOT = "%SRCROOT%"


def _artifact(path: str) -> dict[str, str]:
    """A SARIF ``artifactLocation`` for a local path.

    Under the working directory: a relative ``uri`` with ``uriBaseId`` ``%SRCROOT%``; elsewhere
    an absolute ``file:`` URI.

    Example:
        >>> _artifact(os.path.join(os.getcwd(), "models", "a b.pkl"))
        {'uri': 'models/a%20b.pkl', 'uriBaseId': '%SRCROOT%'}
        >>> _artifact("/elsewhere/m.pkl") if not os.getcwd().startswith("/elsewhere") else 0
        {'uri': 'file:///elsewhere/m.pkl'}
    """
    p = Path(os.path.abspath(path))
    try:
        rel = p.relative_to(Path(os.path.abspath(os.getcwd())))
    except (ValueError, OSError):
        return {"uri": "file://" + quote(p.as_posix(), safe=_URI_SAFE)}
    return {"uri": quote(rel.as_posix(), safe=_URI_SAFE), "uriBaseId": SRCROOT}


def _location_of(result: ModelResult, file: str | None) -> dict[str, str]:
    if result.local_path is not None:
        base = result.local_path
        if file and os.path.isdir(base):
            return _artifact(os.path.join(base, file.lstrip("/")))
        return _artifact(base)
    target = result.target.rstrip("/")
    if file:
        return {"uri": quote(f"{target}/{file.lstrip('/')}", safe=_URI_SAFE + "%")}
    return {"uri": quote(target, safe=_URI_SAFE + "%")}


def render_sarif(report: Report) -> str:
    """A SARIF 2.1.0 log: one run, one result per violation (see the module docstring)."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for r in report.results:
        for v in r.violations:
            rid = rule_id(v.rule_name)
            if rid not in index:
                index[rid] = len(rules)
                rule: dict[str, Any] = {
                    "id": rid,
                    "name": re.sub(r"[^A-Za-z0-9]", "", v.rule_name.title()) or rid,
                    "shortDescription": {"text": v.rule_name},
                    "fullDescription": {"text": v.rule_description or v.rule_name},
                    "defaultConfiguration": {
                        "level": "error" if v.rule_instance_state == "BLOCKING" else "warning"
                    },
                    "properties": {"tags": ["security", "ml-model"]},
                }
                if v.remediation_steps:
                    steps = "\n".join(f"- {s}" for s in v.remediation_steps)
                    rule["help"] = {"text": steps, "markdown": steps}
                if v.remediation_url and v.remediation_url.startswith(("http://", "https://")):
                    rule["helpUri"] = v.remediation_url
                rules.append(rule)
            text = v.description
            if v.threat:
                text += f" (threat {v.threat}"
                text += f": {v.threat_description})" if v.threat_description else ")"
            text += f" in model {r.target}: {r.outcome}."
            if v.remediation_steps:
                text += " Remediation: " + " ".join(v.remediation_steps)
            props: dict[str, Any] = {
                "target": r.target,
                "outcome": r.outcome,
                "rule_instance_state": v.rule_instance_state,
            }
            for key in ("threat", "threat_description", "module", "operator", "file"):
                value = getattr(v, key)
                if value:
                    props[key] = value
            if r.scan_uuid:
                props["scan_uuid"] = r.scan_uuid
            if v.remediation_url:
                props["remediation_url"] = v.remediation_url
            if v.threat:
                props["tags"] = [v.threat]
            results.append(
                {
                    "ruleId": rid,
                    "ruleIndex": index[rid],
                    "level": "error" if v.rule_instance_state == "BLOCKING" else "warning",
                    "kind": "fail",
                    "message": {"text": text},
                    "locations": [
                        {"physicalLocation": {"artifactLocation": _location_of(r, v.file)}}
                    ],
                    "partialFingerprints": {
                        "modelsecViolation/v1": "|".join(
                            [rid, r.target, v.file or "", v.threat or "", v.description]
                        )
                    },
                    "properties": props,
                }
            )
        if r.outcome in ("ERROR", "TIMEOUT"):
            notifications.append(
                {
                    "level": "error",
                    "message": {
                        "text": f"{r.target}: {r.outcome}"
                        + (f" {r.error_code}" if r.error_code else "")
                        + (f": {r.error_message}" if r.error_message else "")
                    },
                    "locations": [
                        {"physicalLocation": {"artifactLocation": _location_of(r, None)}}
                    ],
                    "properties": {"target": r.target, "outcome": r.outcome},
                }
            )
    finished = report.finished_at or _dt.datetime.now(_dt.timezone.utc)
    invocation: dict[str, Any] = {
        "executionSuccessful": not notifications,
        "exitCode": report.exit_code,
        "startTimeUtc": _sarif_time(report.started_at),
        "endTimeUtc": _sarif_time(finished),
        "toolExecutionNotifications": notifications,
    }
    if report.command_line:
        invocation["commandLine"] = report.command_line
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "modelsec",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "automationDetails": {"id": f"modelsec/{report.mode}/"},
        "invocations": [invocation],
        "results": results,
        "properties": {"mode": report.mode, "summary": report.summary()},
    }
    located = [loc for item in [*results, *notifications] for loc in item["locations"]]
    if any("uriBaseId" in loc["physicalLocation"]["artifactLocation"] for loc in located):
        cwd = Path(os.path.abspath(os.getcwd())).as_uri().rstrip("/") + "/"
        run["originalUriBaseIds"] = {SRCROOT: {"uri": cwd}}
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, default=str)


def _sarif_time(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------- junit


def render_junit(report: Report) -> str:
    """JUnit XML: one ``<testsuite>``, one ``<testcase>`` per model."""
    s = report.summary()
    failures = sum(
        1
        for r in report.results
        if r.exit_code(block_on_errors=report.block_on_errors) == EXIT_BLOCKED
    )
    errors = sum(
        1
        for r in report.results
        if r.exit_code(block_on_errors=report.block_on_errors) == EXIT_ERROR
    )
    total_time = sum(r.duration_seconds or 0.0 for r in report.results)
    suites = ET.Element(
        "testsuites",
        name="modelsec",
        tests=str(s["total"]),
        failures=str(failures),
        errors=str(errors),
        time=f"{total_time:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"modelsec scan ({report.mode})",
        tests=str(s["total"]),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{total_time:.3f}",
        timestamp=report.started_at.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=safe_text(f"modelsec.{(r.source_type or 'model').lower()}"),
            name=safe_text(r.target),
            time=f"{r.duration_seconds or 0.0:.3f}",
        )
        code = r.exit_code(block_on_errors=report.block_on_errors)
        details = _case_details(r)
        if code == EXIT_BLOCKED:
            first = r.violations[0].description if r.violations else r.error_message or ""
            el = ET.SubElement(
                case,
                "failure",
                message=safe_text(f"{r.outcome}: {first}".strip()),
                type=safe_text(r.outcome),
            )
            el.text = details
        elif code == EXIT_ERROR:
            el = ET.SubElement(
                case,
                "error",
                message=safe_text(
                    f"{r.outcome}: {r.error_code or ''} {r.error_message or ''}".strip()
                ),
                type=safe_text(r.error_code or r.outcome),
            )
            el.text = details
        if details and code == EXIT_ALLOWED:
            out = ET.SubElement(case, "system-out")
            out.text = details
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def _case_details(r: ModelResult) -> str:
    # XML 1.0 cannot hold control characters at all, and JUnit text ends up in CI logs:
    # every line is escaped with safe_text (our own newlines join them).
    lines = []
    if r.scan_uuid:
        lines.append(f"scan {r.scan_uuid} (group {r.security_group_name or '?'})")
    if r.error_code or r.error_message:
        lines.append(f"error: {r.error_code or ''} {r.error_message or ''}".strip())
    for v in r.violations:
        where = ", ".join(x for x in (v.file, v.threat) if x)
        lines.append(
            f"{v.rule_instance_state} {v.rule_name}: {v.description}"
            + (f" [{where}]" if where else "")
        )
        lines.extend(f"  fix: {step}" for step in v.remediation_steps)
    return "\n".join(safe_text(line) for line in lines)


# ---------------------------------------------------------------------------------- dispatch


def render(report: Report, fmt: str, *, colour: bool = False) -> str:
    """Render ``report`` as ``text``, ``json``, ``sarif`` or ``junit``.

    Example:
        >>> render(Report("offline", []), "sarif").count('"version": "2.1.0"')
        1
    """
    if fmt == "text":
        return render_text(report, colour=colour)
    if fmt == "json":
        return render_json(report)
    if fmt == "sarif":
        return render_sarif(report)
    if fmt == "junit":
        return render_junit(report)
    if fmt == "cyclonedx":  # CycloneDX 1.6 ML-BOM (optional extra): modelsec/bom.py
        from modelsec.bom import to_cyclonedx

        return to_cyclonedx(report.results)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
