"""Data plane: the model inventory (models, their versions and files).

Example:
    >>> sorted(HANDLERS)[:3]
    ['get_model', 'get_model_version', 'list_model_version_files']
"""

from __future__ import annotations

from typing import Any

from modelsec.emulator.handlers.common import (
    Ctx,
    Handler,
    by_time,
    not_found,
    page,
    pagination,
    public,
    time_filter,
)
from modelsec.emulator.store import Model, TenantStore, iso
from modelsec.emulator.validation import parse_datetime

__all__ = ["HANDLERS", "model_wire"]


def model_wire(t: TenantStore, m: Model) -> dict[str, Any]:
    """``ModelResponseSchema`` (fields of the latest version flattened in)."""
    lv = t.model_versions[m.latest] if m.latest else None
    f = lv.fields if lv else {}
    return {
        "uuid": m.uuid,
        "tsg_id": m.tsg_id,
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
        "name": m.name,
        "latest_version_uuid": lv.uuid if lv else None,
        "latest_version_revision": lv.revision if lv else None,
        "latest_version_fingerprint": f.get("fingerprint"),
        "latest_version_formats": f.get("model_formats"),
        "latest_version_hf_commit_sha": f.get("hf_commit_sha"),
        "latest_version_outcome": f.get("last_eval_outcome"),
        "latest_version_scan_time": f.get("latest_scan_time"),
        "latest_version_source_types": f.get("source_types"),
    }


async def list_models(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/models`` with filters on the latest version."""
    p = ctx.params
    models = list(ctx.tenant.models.values())
    versions = ctx.tenant.model_versions
    if p.get("search_query"):
        q = p["search_query"].lower()
        models = [m for m in models if q in m.name.lower() or q in m.uuid]

    def latest(m: Model) -> dict[str, Any]:
        return versions[m.latest].fields if m.latest else {}

    if p.get("latest_version_outcomes"):
        models = [
            m for m in models if latest(m).get("last_eval_outcome") in p["latest_version_outcomes"]
        ]
    if p.get("latest_version_formats"):
        want = set(p["latest_version_formats"])
        models = [m for m in models if want & set(latest(m).get("model_formats") or [])]
    if p.get("latest_version_source_types"):
        want = set(p["latest_version_source_types"])
        models = [m for m in models if want & set(latest(m).get("source_types") or [])]
    if p.get("latest_version_scan_time_before"):
        before = parse_datetime(p["latest_version_scan_time_before"])
        models = [
            m
            for m in models
            if latest(m).get("latest_scan_time")
            and before is not None
            and (parse_datetime(latest(m)["latest_scan_time"]) or before) < before
        ]
    models = time_filter(models, p)
    models = by_time(models, p.get("sort_field") or "created_at", p.get("sort_order") != "asc")
    return 200, {
        "pagination": pagination(len(models)),
        "models": [model_wire(ctx.tenant, m) for m in page(models, p["skip"], p["limit"])],
    }


async def get_model(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/models/{uuid}``."""
    m = ctx.tenant.models.get(ctx.params["uuid"])
    if m is None:
        raise not_found("Model")
    return 200, model_wire(ctx.tenant, m)


async def list_model_versions(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/models/{uuid}/model-versions``."""
    p = ctx.params
    m = ctx.tenant.models.get(p["uuid"])
    if m is None:
        raise not_found("Model")
    vs = by_time(
        [ctx.tenant.model_versions[v] for v in m.versions], desc=p.get("sort_order") != "asc"
    )
    return 200, {
        "pagination": pagination(len(vs)),
        "model_versions": [v.wire() for v in page(vs, p["skip"], p["limit"])],
    }


async def get_model_version(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/model-versions/{uuid}``."""
    v = ctx.tenant.model_versions.get(ctx.params["uuid"])
    if v is None:
        raise not_found("Model version")
    return 200, v.wire()


async def list_model_version_files(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/model-versions/{uuid}/files``."""
    p = ctx.params
    v = ctx.tenant.model_versions.get(p["uuid"])
    if v is None:
        raise not_found("Model version")
    files = sorted(v.files, key=lambda f: f["path"])
    return 200, {
        "pagination": pagination(len(files)),
        "files": [public(f) for f in page(files, p["skip"], p["limit"])],
    }


HANDLERS: dict[str, Handler] = {
    "list_models": list_models,
    "get_model": get_model,
    "list_model_versions": list_model_versions,
    "get_model_version": get_model_version,
    "list_model_version_files": list_model_version_files,
}
