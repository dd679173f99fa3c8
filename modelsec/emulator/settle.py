"""Settling a scan in the background: hub scan (remote URIs), policy evaluation, the records
(evaluations, violations, file tree) and the model inventory.

Example:
    >>> from modelsec.emulator.store import Scan
    >>> s = Scan(uuid="u", tsg_id="t", request={}, group_uuid="g", group_name="n",
    ...          source_type="LOCAL", owner="o", created_by="c", labels={}, enabled_rule_count=0)
    >>> [(f["path"], f["type"]) for f in file_tree(s, [{"file_path": "a/b.bin"}], {}, {})]
    [('a/b.bin', 'FILE'), ('a', 'DIRECTORY')]
"""

from __future__ import annotations

import asyncio
import collections
import datetime as _dt
import logging
import uuid as _uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelsec.emulator.config import EmulatorConfig
from modelsec.emulator.hub import RemoteRef, parse_front_matter, parse_remote_uri, read_in_hub
from modelsec.emulator.store import (
    Model,
    ModelVersion,
    Scan,
    TenantStore,
    fingerprint,
    iso,
    new_uuid,
    utcnow,
)
from modelsec.policy.evaluate import (
    CustomRuleInstance,
    EvaluationResult,
    RuleInstance,
    SourceMetadata,
    evaluate_scan,
)

__all__ = ["file_tree", "settle"]

log = logging.getLogger("modelsec.emulator")


async def settle(config: EmulatorConfig, t: TenantStore, scan: Scan) -> None:
    """Wait ``settle_delay``, then evaluate; a crash ends the scan in ``ERROR``."""
    await asyncio.sleep(config.settle_delay)
    try:
        await _process(config, t, scan)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug or a scanner crash: the scan ends in ERROR
        log.exception("scan %s failed", scan.uuid)
        scan.eval_outcome = "ERROR"
        scan.error_code = "INTERNAL_ERROR"
        scan.error_message = f"{type(exc).__name__}: {exc}"[:1024]
        scan.updated_at = utcnow()


@dataclass
class _HubInputs:
    """What a scan reads from the hub, gathered in a worker thread."""

    path: Path | None = None
    revision: str | None = None
    license: str | None = None
    verified: bool = False


def _hub_inputs(hub: str | None, ref: RemoteRef | None) -> _HubInputs:
    # Runs in a worker thread: every filesystem call of a settling scan stays off the loop.
    out = _HubInputs()
    if ref is None or not hub:
        return out
    out.path = ref.resolve(hub)
    if out.path is not None:
        raw = read_in_hub(hub, out.path / ".revision")
        if raw is not None:
            out.revision = raw.decode("utf-8", errors="replace").strip()[:128] or None
    if ref.source_type == "HUGGING_FACE" and ref.model_id:
        if out.path is not None:
            card = read_in_hub(hub, out.path / "README.md")
            if card is not None:
                fm = parse_front_matter(card.decode("utf-8", errors="replace"))
                lic = fm.get("license")
                if isinstance(lic, list):
                    lic = lic[0] if lic else None
                out.license = lic or None
        org = ref.model_id.split("/", 1)[0]
        marker = Path(hub) / "huggingface" / org / ".verified"
        out.verified = read_in_hub(hub, marker, limit=0) is not None
    return out


async def _process(config: EmulatorConfig, t: TenantStore, scan: Scan) -> None:
    req = scan.request
    details: dict[str, Any] | None = req.get("scan_details")
    ref = parse_remote_uri(scan.model_uri)
    hub = await asyncio.to_thread(_hub_inputs, config.hub, ref)
    hub_path = hub.path
    meta: SourceMetadata | None = None
    error: tuple[str, str] | None = None
    if details is None:
        if hub_path is None:
            error = ("MISSING_ARTIFACTS", f"No model artifacts found at {scan.model_uri}")
        else:
            try:
                # The import happens here on the loop, never first in a worker thread (see
                # modelsec.scanner.api: concurrent AST building in import hooks).
                import modelsec.scanner  # noqa: F401

                details = await asyncio.to_thread(
                    _scan_with_scanner,
                    str(hub_path),
                    req.get("allow_patterns"),
                    req.get("ignore_patterns"),
                )
            except ImportError as exc:
                error = ("SCAN_ERROR", f"The server-side scanner is unavailable: {exc}")
            if details is not None and not details.get("files") and not details.get("error_code"):
                error = ("MISSING_ARTIFACTS", f"No model files found at {scan.model_uri}")
    if ref is not None and ref.source_type == "HUGGING_FACE" and ref.model_id:
        meta = SourceMetadata.from_model_id(ref.model_id)
        meta.license = hub.license
        if hub.verified and meta.organization:
            meta.organization_verified = True
    group = t.groups[scan.group_uuid]
    instances = [
        RuleInstance(ri.rule, ri.state, {k: list(v) for k, v in ri.field_values.items()}, ri.uuid)
        for ri in t.group_rule_instances(group.uuid)
    ]
    customs = [
        CustomRuleInstance(c.wire(), c.assignments[group.uuid][1], c.assignments[group.uuid][0])
        for c in sorted(t.custom_rules.values(), key=lambda c: c.seq)
        if not c.is_archived and group.uuid in c.assignments
    ]
    if error is not None:
        result = EvaluationResult("ERROR", [], error[0], error[1])
    else:
        result = evaluate_scan(
            details,
            instances,
            source_type=scan.source_type,
            model_uri=scan.model_uri,
            metadata=meta,
            labels=scan.labels,
            custom_rules=customs,
        )
    now = utcnow()
    scan.details = details
    _record(t, scan, result, now)
    if details is not None and details.get("files") and result.outcome != "ERROR":
        _inventory(t, scan, details, meta, ref, hub.revision, result, now)
    scan.eval_outcome = result.outcome
    scan.error_code = result.error_code
    scan.error_message = result.error_message
    scan.eval_summary = result.summary if result.outcome != "ERROR" else None
    scan.updated_at = now


def _record(t: TenantStore, scan: Scan, result: EvaluationResult, now: _dt.datetime) -> None:
    base = {"tsg_id": t.tsg_id, "created_at": iso(now), "updated_at": iso(now)}
    bad_files: dict[str, bool] = {}
    for i, ev in enumerate(result.evaluations):
        e = {
            "uuid": new_uuid(),
            **base,
            **ev.to_dict(),
            "rule_instance_uuid": ev.rule_instance_uuid or new_uuid(),
            "scan_uuid": scan.uuid,
            "_seq": i,
        }
        t.evaluations[e["uuid"]] = e
        scan.evaluations.append(e)
        for vi in ev.violations:
            v = {
                "uuid": new_uuid(),
                **base,
                **vi.to_dict(),
                "rule_instance_uuid": e["rule_instance_uuid"],
                "insights_url": None,
                "threat_kb_url": None,
            }
            if v["threat_description"] is not None:
                v["threat_description"] = v["threat_description"][:256]
            t.violations[v["uuid"]] = v
            scan.violations.append(v)
            if vi.file:
                bad_files[vi.file] = True
    scan.files = file_tree(scan, (scan.details or {}).get("files") or [], bad_files, base)


def _inventory(
    t: TenantStore,
    scan: Scan,
    details: Mapping[str, Any],
    meta: SourceMetadata | None,
    ref: RemoteRef | None,
    hf_sha: str | None,
    result: EvaluationResult,
    now: _dt.datetime,
) -> None:
    req = scan.request
    if ref is not None and ref.model_id:
        name = ref.model_id
    elif req.get("model_name"):
        name = str(req["model_name"])
    else:
        name = scan.model_uri.rstrip("/").rsplit("/", 1)[-1] or scan.model_uri
    name = name[:256]
    model = next((m for m in t.models.values() if m.name == name), None)
    if model is None:
        model = Model(uuid=new_uuid(), tsg_id=t.tsg_id, name=name)
        t.models[model.uuid] = model
    files = list(details.get("files") or [])
    fp = fingerprint(files)
    revision = str(req.get("model_version") or hf_sha or fp[:16])
    version = next(
        (t.model_versions[v] for v in model.versions if t.model_versions[v].revision == revision),
        None,
    )
    if version is None:
        version = ModelVersion(
            uuid=new_uuid(), tsg_id=t.tsg_id, model_uuid=model.uuid, revision=revision
        )
        t.model_versions[version.uuid] = version
        model.versions.append(version.uuid)
    is_hf = scan.source_type == "HUGGING_FACE" or (
        ref is not None and ref.source_type == "HUGGING_FACE"
    )
    sources = set(version.fields.get("source_types") or [])
    sources.add(scan.source_type)
    version.fields = {
        "file_count": len(files),
        "fingerprint": fp,
        "hf_commit_authors": None,
        "hf_commit_sha": hf_sha if is_hf else None,
        "hf_commit_title": None,
        "hf_model_name": (meta.model_id.split("/", 1)[1] if meta and meta.model_id else None)
        if is_hf
        else None,
        "hf_organization": meta.organization if is_hf and meta else None,
        "last_eval_outcome": result.outcome,
        "last_eval_summary": result.summary,
        "latest_scan_time": iso(now),
        "license": meta.license[:256] if meta and meta.license else None,
        "model_formats": list(details.get("model_formats") or []),
        "source_types": sorted(sources),
    }
    version.updated_at = now
    version.files = [{**f, "model_version_uuid": version.uuid} for f in scan.files]
    for f in scan.files:
        f["model_version_uuid"] = version.uuid
    model.latest = version.uuid
    model.updated_at = now
    scan.model_version_uuid = version.uuid


def file_tree(
    scan: Scan, files: list[Mapping[str, Any]], bad: Mapping[str, bool], base: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The scan's file rows: one per file plus one per directory (worst result wins)."""
    out: dict[str, dict[str, Any]] = {}
    dir_results: dict[str, set[str]] = collections.defaultdict(set)
    for f in files:
        path = str(f.get("file_path", "")).strip("/")[:1024]
        if not path:
            continue
        status = f.get("modelscan_status")
        if status == "SKIPPED":
            result = "SKIPPED"
        elif status == "ERROR":
            result = "ERROR"
        elif bad.get(str(f.get("file_path"))) or bad.get(path):
            result = "FAILED"
        else:
            result = "SUCCESS"
        parts = path.split("/")
        parent = "/".join(parts[:-1]) or "/"
        out[path] = {
            "uuid": new_uuid(),
            **base,
            "path": path,
            "parent_path": parent,
            "type": "FILE",
            "result": result,
            "blob_id": f.get("blob_id"),
            "formats": f.get("formats"),
            "scan_uuid": scan.uuid,
            "model_version_uuid": scan.model_version_uuid or str(_uuid.UUID(int=0)),
        }
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            dir_results[d].add(result)
            if d not in out:
                out[d] = {
                    "uuid": new_uuid(),
                    **base,
                    "path": d,
                    "parent_path": "/".join(parts[: i - 1]) or "/",
                    "type": "DIRECTORY",
                    "result": "SUCCESS",
                    "blob_id": None,
                    "formats": None,
                    "scan_uuid": scan.uuid,
                    "model_version_uuid": scan.model_version_uuid or str(_uuid.UUID(int=0)),
                }
    for d, results in dir_results.items():
        for r in ("FAILED", "ERROR", "SUCCESS"):
            if r in results:
                out[d]["result"] = r
                break
        else:
            out[d]["result"] = "SKIPPED"
    return list(out.values())


def _scan_with_scanner(
    path: str, allow: list[str] | None, ignore: list[str] | None
) -> dict[str, Any]:
    """Scan a hub model server-side (in a worker thread) and return the wire ``scan_details``.

    The scanner is imported here, lazily, and its result is turned into the wire dict at
    once: the emulator's store never holds SDK types. ``allow_patterns``/``ignore_patterns``
    apply to these server-side scans (they do not to LOCAL ones).
    """
    from modelsec.scanner import scan_path

    details = scan_path(path, allow_patterns=allow, ignore_patterns=ignore)
    wire: dict[str, Any] = details.to_dict(exclude_none=True)
    return wire
