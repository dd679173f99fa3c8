"""Data plane: scans, their evaluations, violations, files and labels.

Example:
    >>> sorted(HANDLERS)[:3]
    ['add_scan_labels', 'create_scan', 'delete_scan_labels']
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Mapping
from typing import Any

from modelsec.emulator.handlers.common import (
    Ctx,
    Handler,
    by_time,
    group,
    not_found,
    page,
    pagination,
    public,
    scan,
    time_filter,
    value_error,
)
from modelsec.emulator.labels_query import LabelsQueryError, parse_labels_query
from modelsec.emulator.settle import settle
from modelsec.emulator.store import Scan, new_uuid, utcnow

__all__ = ["HANDLERS", "files_page"]

# The 50-label cap lives only in the specs' prose.
MAX_LABELS = 50


async def create_scan(ctx: Ctx) -> tuple[int, Any]:
    """``POST /v1/scans``: store the scan PENDING and settle it in the background."""
    body = ctx.body
    g = group(ctx, str(_uuid.UUID(body["security_group_uuid"])), live=True)
    labels: dict[str, str] = {}
    for lab in body.get("labels") or []:
        labels[lab["key"]] = lab["value"]
    enabled = sum(1 for ri in ctx.tenant.group_rule_instances(g.uuid) if ri.state != "DISABLED")
    s = Scan(
        uuid=new_uuid(),
        tsg_id=ctx.tsg_id,
        request=dict(body),
        group_uuid=g.uuid,
        group_name=g.name,
        source_type=g.source_type,
        owner=ctx.client_id[:256],
        created_by=str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"client:{ctx.client_id}")),
        labels=labels,
        enabled_rule_count=enabled,
    )
    ctx.tenant.scans[s.uuid] = s
    ctx.service.spawn(settle(ctx.service.config, ctx.tenant, s))
    return 201, s.wire()


async def list_scans(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/scans`` with its filters and the label query."""
    p = ctx.params
    scans = list(ctx.tenant.scans.values())
    if p.get("search_query"):
        q = p["search_query"].lower()
        scans = [s for s in scans if q in s.model_uri.lower() or q in s.uuid]
    if p.get("security_group_uuid"):
        scans = [s for s in scans if s.group_uuid == p["security_group_uuid"]]
    if p.get("model_version_uuid"):
        scans = [s for s in scans if s.model_version_uuid == p["model_version_uuid"]]
    if p.get("source_types"):
        scans = [s for s in scans if s.source_type in p["source_types"]]
    if p.get("eval_outcomes"):
        scans = [s for s in scans if s.eval_outcome in p["eval_outcomes"]]
    scans = time_filter(scans, p)
    if p.get("labels_query"):
        try:
            pred = parse_labels_query(p["labels_query"])
        except LabelsQueryError as exc:
            raise value_error(["query", "labels_query"], str(exc), p["labels_query"]) from None
        scans = [s for s in scans if pred(s.labels)]
    scans = by_time(scans, desc=p.get("sort_order") != "asc")
    return 200, {
        "pagination": pagination(len(scans)),
        "count_capped": False,
        "scans": [s.wire() for s in page(scans, p["skip"], p["limit"])],
    }


async def get_scan(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/scans/{uuid}``."""
    return 200, scan(ctx, ctx.params["uuid"]).wire()


async def get_scan_evaluations(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/scans/{scan_uuid}/evaluations``."""
    p = ctx.params
    evs = list(scan(ctx, p["scan_uuid"]).evaluations)
    if p.get("result"):
        evs = [e for e in evs if e["result"] == p["result"]]
    if p.get("rule_instance_uuid"):
        evs = [e for e in evs if e["rule_instance_uuid"] == p["rule_instance_uuid"]]
    field_ = p.get("sort_field") or "created_at"
    evs = sorted(evs, key=lambda e: (e[field_], e["_seq"]), reverse=p.get("sort_order") != "asc")
    return 200, {
        "pagination": pagination(len(evs)),
        "evaluations": [public(e) for e in page(evs, p["skip"], p["limit"])],
    }


async def get_scan_violations(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/scans/{scan_uuid}/rule-violations``."""
    p = ctx.params
    vs = scan(ctx, p["scan_uuid"]).violations
    return 200, {
        "pagination": pagination(len(vs)),
        "violations": [public(v) for v in page(vs, p["skip"], p["limit"])],
    }


async def get_evaluation(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/evaluations/{uuid}``."""
    e = ctx.tenant.evaluations.get(ctx.params["uuid"])
    if e is None:
        raise not_found("Evaluation")
    return 200, public(e)


async def get_violation(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/violations/{uuid}``."""
    v = ctx.tenant.violations.get(ctx.params["uuid"])
    if v is None:
        raise not_found("Violation")
    return 200, public(v)


def _norm_dir(path: str) -> str:
    p = path.strip().strip("/")
    return p or "/"


def files_page(files: list[dict[str, Any]], p: Mapping[str, Any]) -> dict[str, Any]:
    """One directory of a scan's file tree, sorted and paged."""
    q = _norm_dir(p.get("query_path") or "/")
    rows = [f for f in files if f["parent_path"] == q]
    key = p.get("sort_field") or "path"
    rows = sorted(rows, key=lambda f: (f[key], f["path"]), reverse=p.get("sort_dir") == "desc")
    return {
        "pagination": pagination(len(rows)),
        "files": [public(f) for f in page(rows, p["skip"], p["limit"])],
    }


async def get_files(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/scans/{scan_uuid}/files``."""
    p = ctx.params
    return 200, files_page(scan(ctx, p["scan_uuid"]).files, p)


# ---------------------------------------------------------------------- labels
def _labels_body(body: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for lab in body["labels"]:
        out[lab["key"]] = lab["value"]
    return out


def _check_label_count(labels: Mapping[str, str], body: Any) -> None:
    if len(labels) > MAX_LABELS:
        raise value_error(["body", "labels"], f"a scan has at most {MAX_LABELS} labels", body)


async def add_scan_labels(ctx: Ctx) -> tuple[int, Any]:
    """``POST /v1/scans/{scan_uuid}/labels``: merge."""
    s = scan(ctx, ctx.params["scan_uuid"])
    merged = dict(s.labels)
    merged.update(_labels_body(ctx.body))
    _check_label_count(merged, ctx.body)
    s.labels = merged
    s.updated_at = utcnow()
    return 200, {}


async def set_scan_labels(ctx: Ctx) -> tuple[int, Any]:
    """``PUT /v1/scans/{scan_uuid}/labels``: replace."""
    s = scan(ctx, ctx.params["scan_uuid"])
    s.labels = _labels_body(ctx.body)
    s.updated_at = utcnow()
    return 200, {}


async def delete_scan_labels(ctx: Ctx) -> tuple[int, Any]:
    """``DELETE /v1/scans/{scan_uuid}/labels?keys=...``."""
    s = scan(ctx, ctx.params["scan_uuid"])
    for k in ctx.params["keys"]:
        s.labels.pop(k, None)
    s.updated_at = utcnow()
    return 204, None


async def list_scan_label_keys(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/scans/label-keys``."""
    p = ctx.params
    keys = sorted({k for s in ctx.tenant.scans.values() for k in s.labels})
    if p.get("search"):
        keys = [k for k in keys if p["search"].lower() in k.lower()]
    return 200, {"pagination": pagination(len(keys)), "keys": page(keys, p["skip"], p["limit"])}


async def list_scan_label_key_values(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/scans/label-keys/{key}/values``."""
    p = ctx.params
    key = p["key"]
    values = sorted({s.labels[key] for s in ctx.tenant.scans.values() if key in s.labels})
    if p.get("search"):
        values = [x for x in values if p["search"].lower() in x.lower()]
    return 200, {
        "pagination": pagination(len(values)),
        "values": page(values, p["skip"], p["limit"]),
    }


HANDLERS: dict[str, Handler] = {
    "create_scan": create_scan,
    "list_scans": list_scans,
    "get_scan": get_scan,
    "get_scan_evaluations": get_scan_evaluations,
    "get_scan_violations": get_scan_violations,
    "get_evaluation": get_evaluation,
    "get_violation": get_violation,
    "get_files": get_files,
    "add_scan_labels": add_scan_labels,
    "set_scan_labels": set_scan_labels,
    "delete_scan_labels": delete_scan_labels,
    "list_scan_label_keys": list_scan_label_keys,
    "list_scan_label_key_values": list_scan_label_key_values,
}
