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

SARIF puts each violation on the file it was found in (see :mod:`modelsec.cli.sarif`). JUnit
gives one ``<testcase>`` per model: BLOCKED is a ``<failure>``, ERROR/TIMEOUT an ``<error>`` (a
``<failure>`` with ``--block-on-errors`` for settled ERRORs).

The result shape lives in :mod:`modelsec.cli.report`, the SARIF renderer in
:mod:`modelsec.cli.sarif`; every name is importable from here.

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
import xml.etree.ElementTree as ET

from modelsec.cli.report import EXIT_ALLOWED as EXIT_ALLOWED
from modelsec.cli.report import EXIT_BLOCKED as EXIT_BLOCKED
from modelsec.cli.report import EXIT_ERROR as EXIT_ERROR
from modelsec.cli.report import ModelResult, Report, ViolationRecord
from modelsec.cli.sarif import INFORMATION_URI as INFORMATION_URI
from modelsec.cli.sarif import SARIF_SCHEMA as SARIF_SCHEMA
from modelsec.cli.sarif import SRCROOT as SRCROOT
from modelsec.cli.sarif import render_sarif, rule_id

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
