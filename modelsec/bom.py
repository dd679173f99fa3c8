"""CycloneDX 1.6 ML-BOM of scan results (``modelsec scan --format cyclonedx``).

One ``machine-learning-model`` component per target, holding one ``file`` component per file
the scanner read (its SHA-256, size and formats); the scan's UUID, verdict and security group
as properties; every violation as a vulnerability (its threat code as the id, the rule, the
remediation as the recommendation) that affects the file it was found in. Built with
``cyclonedx-python-lib``, an optional extra: ``pip install 'modelsec[cyclonedx]'``.

Per-file hashes come from what the local scanner records (``FileScanData.sha256`` and
``size_bytes``, computed while it reads each file): local targets have them; a remote target
scanned by the service is listed without files (the service does not return hashes with a scan).

Example:
    >>> t = BomTarget(target="./model", outcome="ALLOWED", files=[BomFile("model.safetensors",
    ...     sha256="00" * 32, size_bytes=80, formats=["safetensors"])])
    >>> import json
    >>> doc = json.loads(to_cyclonedx([t]))  # doctest: +SKIP
    >>> doc["components"][0]["type"]  # doctest: +SKIP
    'machine-learning-model'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelsec._version import __version__

__all__ = [
    "BomFile",
    "BomTarget",
    "BomViolation",
    "MissingExtraError",
    "cyclonedx_bom",
    "require_cyclonedx",
    "to_cyclonedx",
]

EXTRA = "cyclonedx"


@dataclass
class BomFile:
    """One file of a model."""

    path: str
    sha256: str | None = None
    size_bytes: int | None = None
    formats: list[str] = field(default_factory=list)


@dataclass
class BomViolation:
    """One violation, whatever produced it (service or offline policy engine)."""

    rule_name: str
    state: str
    description: str
    threat: str | None = None
    threat_description: str | None = None
    file: str | None = None
    module: str | None = None
    operator: str | None = None
    remediation_steps: list[str] = field(default_factory=list)
    remediation_url: str | None = None


@dataclass
class BomTarget:
    """One scanned target: the verdict, the scan and its files."""

    target: str
    outcome: str
    scan_uuid: str | None = None
    security_group: str | None = None
    source_type: str | None = None
    model_formats: list[str] = field(default_factory=list)
    files: list[BomFile] = field(default_factory=list)
    violations: list[BomViolation] = field(default_factory=list)
    error: str | None = None


class MissingExtraError(ImportError):
    """``cyclonedx-python-lib`` is not installed (the message names the extra)."""


def require_cyclonedx() -> None:
    """Raise :class:`MissingExtraError` now (before a long scan) if the extra is missing."""
    _import()


def _import() -> Any:
    try:
        import cyclonedx.model.bom as bom_mod
        import cyclonedx.output.json  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            f"CycloneDX output needs cyclonedx-python-lib: pip install 'modelsec[{EXTRA}]'"
        ) from None
    return bom_mod


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


def _files_of(details: Any) -> list[BomFile]:
    if details is None:
        return []
    raw = details if isinstance(details, Mapping) else details.to_dict(exclude_none=True)
    return [
        BomFile(
            path=str(f.get("file_path")),
            sha256=f.get("sha256"),
            size_bytes=f.get("size_bytes"),
            formats=[str(x) for x in f.get("formats") or []],
        )
        for f in raw.get("files") or []
    ]


def target_from_scan_result(result: Any) -> BomTarget:
    """A :class:`modelsec.workflows.ScanResult` as a :class:`BomTarget`."""
    scan = result.scan
    t = BomTarget(target=str(result.target), outcome="ERROR")
    if scan is not None:
        t.scan_uuid = scan.uuid
        t.outcome = str(_value(scan.eval_outcome))
        t.security_group = scan.security_group_name or scan.security_group_uuid
        t.source_type = str(_value(scan.source_type))
        t.model_formats = [str(x) for x in scan.model_formats or []]
    if result.error is not None:
        t.outcome = "ERROR"
        t.error = getattr(result.error, "message", None) or str(result.error)
    t.files = _files_of(result.scan_details)
    for v in result.violations:
        rem = v.remediation
        t.violations.append(
            BomViolation(
                rule_name=v.rule_name,
                state=str(_value(v.rule_instance_state)),
                description=v.description,
                threat=None if v.threat is None else str(_value(v.threat)),
                threat_description=v.threat_description,
                file=v.file,
                module=v.module,
                operator=v.operator,
                remediation_steps=list(getattr(rem, "steps", None) or []),
                remediation_url=getattr(rem, "url", None),
            )
        )
    return t


def target_from_model_result(mr: Any) -> BomTarget:
    """A CLI report's ``ModelResult`` (:mod:`modelsec.cli.formats`) as a :class:`BomTarget`."""
    return BomTarget(
        target=mr.target,
        outcome=mr.outcome,
        scan_uuid=mr.scan_uuid,
        security_group=mr.security_group_name or mr.security_group_uuid,
        source_type=mr.source_type,
        model_formats=list(mr.model_formats),
        files=_files_of({"files": getattr(mr, "files", None) or []}),
        violations=[
            BomViolation(
                rule_name=v.rule_name,
                state=v.rule_instance_state,
                description=v.description,
                threat=v.threat,
                threat_description=v.threat_description,
                file=v.file,
                module=v.module,
                operator=v.operator,
                remediation_steps=list(v.remediation_steps),
                remediation_url=v.remediation_url,
            )
            for v in mr.violations
        ],
        error=mr.error_message if mr.outcome not in ("ALLOWED", "BLOCKED") else None,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "rule"


def cyclonedx_bom(targets: Iterable[BomTarget]) -> Any:
    """The ``cyclonedx.model.bom.Bom`` of ``targets`` (needs the ``cyclonedx`` extra)."""
    bom_mod = _import()
    from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.model.vulnerability import (
        BomTarget as CdxTarget,
    )
    from cyclonedx.model.vulnerability import (
        Vulnerability,
        VulnerabilityAdvisory,
        VulnerabilityRating,
        VulnerabilitySeverity,
        VulnerabilitySource,
    )

    tool = Component(type=ComponentType.APPLICATION, name="modelsec", version=__version__)
    bom = bom_mod.Bom(metadata=bom_mod.BomMetaData(tools=ToolRepository(components=[tool])))
    for i, t in enumerate(targets):
        model_ref = f"model-{i}"
        files: list[Any] = []
        file_refs: dict[str, str] = {}
        for j, f in enumerate(t.files):
            ref = f"{model_ref}/file-{j}"
            file_refs[f.path] = ref
            props = [Property(name="modelsec:formats", value=",".join(f.formats))]
            if f.size_bytes is not None:
                props.append(Property(name="modelsec:size_bytes", value=str(f.size_bytes)))
            files.append(
                Component(
                    type=ComponentType.FILE,
                    name=f.path,
                    bom_ref=ref,
                    hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)]
                    if f.sha256
                    else None,
                    properties=props,
                )
            )
        props = [Property(name="modelsec:verdict", value=t.outcome)]
        for name, value in (
            ("modelsec:scan_uuid", t.scan_uuid),
            ("modelsec:security_group", t.security_group),
            ("modelsec:source_type", t.source_type),
            ("modelsec:model_formats", ",".join(t.model_formats) or None),
            ("modelsec:error", t.error),
        ):
            if value:
                props.append(Property(name=name, value=value))
        bom.components.add(
            Component(
                type=ComponentType.MACHINE_LEARNING_MODEL,
                name=t.target,
                bom_ref=model_ref,
                properties=props,
                components=files,
            )
        )
        for k, v in enumerate(t.violations):
            vprops = [
                Property(name="modelsec:rule", value=v.rule_name),
                Property(name="modelsec:rule_state", value=v.state),
            ]
            for name, value in (
                ("modelsec:threat", v.threat),
                ("modelsec:file", v.file),
                ("modelsec:module", v.module),
                ("modelsec:operator", v.operator),
            ):
                if value:
                    vprops.append(Property(name=name, value=value))
            advisories = (
                [VulnerabilityAdvisory(url=XsUri(v.remediation_url))] if v.remediation_url else None
            )
            bom.vulnerabilities.add(
                Vulnerability(
                    bom_ref=f"{model_ref}/violation-{k}",
                    id=v.threat or f"modelsec-{_slug(v.rule_name)}",
                    source=VulnerabilitySource(name="modelsec"),
                    description=v.description,
                    detail=v.threat_description,
                    recommendation=" ".join(v.remediation_steps) or None,
                    advisories=advisories,
                    ratings=[
                        VulnerabilityRating(
                            severity=VulnerabilitySeverity.HIGH
                            if v.state == "BLOCKING"
                            else VulnerabilitySeverity.INFO
                        )
                    ],
                    affects=[CdxTarget(ref=file_refs.get(v.file or "", model_ref))],
                    properties=vprops,
                )
            )
    return bom


def to_cyclonedx(results: Iterable[Any]) -> str:
    """CycloneDX 1.6 JSON of scan results (``ScanResult``, ``ModelResult`` or :class:`BomTarget`).

    Example:
        >>> async def example(client):
        ...     results = [r async for r in client.scan_many(["./a", "./b"], group)]
        ...     open("bom.cdx.json", "w").write(to_cyclonedx(results))
    """
    targets: list[BomTarget] = []
    for r in results:
        if isinstance(r, BomTarget):
            targets.append(r)
        elif hasattr(r, "scan_details"):
            targets.append(target_from_scan_result(r))
        else:
            targets.append(target_from_model_result(r))
    bom = cyclonedx_bom(targets)
    from cyclonedx.output.json import JsonV1Dot6

    text: str = JsonV1Dot6(bom).output_as_string(indent=2)
    return text
