"""The SARIF 2.1.0 report of ``modelsec scan`` (``--format sarif``), for code-scanning tools.

SARIF puts each violation on the file it was found in (``physicalLocation.artifactLocation``:
the target path joined with the violation's file for local models -- relative to the working
directory with ``uriBaseId`` ``%SRCROOT%`` (declared in ``run.originalUriBaseIds``) when it lies
under it, an absolute ``file:`` URI otherwise -- and the model URI for remote models),
with the rule as ``ruleId`` (a stable slug of the rule name), the threat code and module/operator
in ``properties``, and the remediation as the rule's ``help``/``helpUri``. A BLOCKING rule gives
level ``error``, an ALLOWING one ``warning``. Scans that could not be judged become
``toolExecutionNotifications`` of the invocation.

Kept apart from the other renderers (:mod:`modelsec.cli.formats`): the largest of them, with
rules of its own about locations and fingerprints.

Example:
    >>> import json
    >>> from modelsec.cli.report import ModelResult, Report, ViolationRecord
    >>> v = ViolationRecord(rule_name="License Exists", rule_instance_state="ALLOWING",
    ...     description="no license")
    >>> log = json.loads(render_sarif(Report("online", [ModelResult(target="hf://o/m",
    ...     outcome="ALLOWED", violations=[v])])))
    >>> result = log["runs"][0]["results"][0]
    >>> result["ruleId"], result["level"]
    ('modelsec/license-exists', 'warning')
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelsec._version import __version__
from modelsec.cli.report import ModelResult, Report

__all__ = ["INFORMATION_URI", "SARIF_SCHEMA", "SRCROOT", "render_sarif", "rule_id"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/modelsec/modelsec"


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
