"""What every handler module shares: the request context, the error answer and small helpers
for paging, sorting and lookups.

A handler is ``async def op(ctx: Ctx) -> tuple[status, payload]``; it raises :class:`HttpError`
for an error answer ``{"detail": ...}``. Each handler module exports ``HANDLERS`` (operation id ->
handler) and :mod:`modelsec.emulator.handlers` merges them.

Example:
    >>> page(list(range(10)), 2, 3), pagination(10)
    ([2, 3, 4], {'total_items': 10})
    >>> value_error(["query", "x"], "bad", 1).detail[0]["msg"]
    'Value error, bad'
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid as _uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from modelsec.emulator.config import EmulatorConfig
from modelsec.emulator.spec import Route
from modelsec.emulator.store import CustomRule, Group, Scan, Store, TenantStore, iso
from modelsec.emulator.validation import parse_datetime

__all__ = [
    "Ctx",
    "Handler",
    "HttpError",
    "Service",
    "by_time",
    "check_field_values",
    "custom_rule",
    "group",
    "is_uuid",
    "json_response",
    "not_found",
    "page",
    "pagination",
    "public",
    "scan",
    "time_filter",
    "value_error",
    "versions_page",
]


class HttpError(Exception):
    """An error answer ``{"detail": ...}``."""

    def __init__(self, status: int, detail: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


class Service(Protocol):
    """What handlers may use of the running service."""

    config: EmulatorConfig
    store: Store

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run background work that ends (cancelled) with the application."""


@dataclass
class Ctx:
    """One validated request."""

    request: web.Request
    route: Route
    tenant: TenantStore
    tsg_id: str
    client_id: str
    params: dict[str, Any]
    body: Any
    service: Service


Handler = Callable[[Ctx], Awaitable[tuple[int, Any]]]


def not_found(what: str) -> HttpError:
    """A 404 answer naming what was not found."""
    return HttpError(404, f"{what} not found")


def value_error(loc: list[Any], msg: str, input_: Any) -> HttpError:
    """A FastAPI-style 422 ``value_error`` at ``loc``."""
    return HttpError(
        422,
        [
            {
                "type": "value_error",
                "loc": loc,
                "msg": f"Value error, {msg}",
                "input": input_,
                "ctx": {"error": msg},
            }
        ],
    )


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    """A compact JSON response."""
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers,
    )


def page(items: list[Any], skip: int, limit: int | None) -> list[Any]:
    """``items[skip:skip+limit]`` (negative values read as 0)."""
    skip = max(0, skip)
    if limit is None:
        return items[skip:]
    return items[skip : skip + max(0, limit)]


def pagination(total: int) -> dict[str, Any]:
    """The offset-paged lists' ``pagination`` object."""
    return {"total_items": total}


def by_time(items: list[Any], attr: str = "created_at", desc: bool = True) -> list[Any]:
    """Sorted by ``attr`` then creation order."""
    return sorted(items, key=lambda o: (getattr(o, attr), o.seq), reverse=desc)


def time_filter(items: list[Any], p: Mapping[str, Any]) -> list[Any]:
    """Keep the items created within ``start_time``..``end_time`` (when given)."""
    start = parse_datetime(p["start_time"]) if p.get("start_time") else None
    end = parse_datetime(p["end_time"]) if p.get("end_time") else None
    if start:
        items = [s for s in items if s.created_at >= start]
    if end:
        items = [s for s in items if s.created_at <= end]
    return items


def public(d: Mapping[str, Any]) -> dict[str, Any]:
    """A stored dict without its private (``_``-prefixed) keys."""
    return {k: v for k, v in d.items() if not k.startswith("_")}


def is_uuid(s: str) -> bool:
    """Whether ``s`` parses as a UUID."""
    try:
        _uuid.UUID(s)
        return True
    except ValueError:
        return False


def check_field_values(rule: Any, fv: Any, loc: list[Any]) -> None:
    """Rule-configuration keys and values (a rule only in the specs' prose): 422 when bad."""
    if not fv:
        return
    for k, v in fv.items():
        if k not in rule.default_values:
            raise value_error([*loc, k], f"rule '{rule.name}' has no editable field {k}", k)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise value_error([*loc, k], "field values must be lists of strings", v)


# ---------------------------------------------------------------------- lookups
def group(ctx: Ctx, uuid: str, *, live: bool = False) -> Group:
    """The tenant's group (``live``: not deleted) or 404."""
    g = ctx.tenant.groups.get(uuid)
    if g is None or (live and g.is_tombstone):
        raise not_found("Security group")
    return g


def scan(ctx: Ctx, uuid: str) -> Scan:
    """The tenant's scan or 404."""
    s = ctx.tenant.scans.get(uuid)
    if s is None:
        raise not_found("Scan")
    return s


def custom_rule(ctx: Ctx, uuid: str) -> CustomRule:
    """The tenant's custom rule or 404."""
    c = ctx.tenant.custom_rules.get(uuid)
    if c is None:
        raise not_found("Custom rule")
    return c


# ---------------------------------------------------------------------- snapshot versions
_OFFSET = re.compile(r"0|[1-9][0-9]{0,17}")


def versions_page(ctx: Ctx, versions: list[tuple[int, Any]]) -> tuple[int, Any]:
    """A cursor-paged ``SnapshotVersionListResponse`` (``next_token`` is a base64 offset)."""
    p = ctx.params
    offset = 0
    if p.get("next_token"):
        try:
            raw = base64.urlsafe_b64decode(p["next_token"].encode()).decode("ascii")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raw = ""
        # Only tokens this server issued: a plain non-negative offset (int() would also take
        # "-1", " 1", "1_0" and other scripts' digits).
        if not _OFFSET.fullmatch(raw):
            raise value_error(["query", "next_token"], "invalid next_token", p["next_token"])
        offset = int(raw)
    ordered = sorted(versions, reverse=True)
    rows = ordered[offset : offset + p["limit"]]
    nxt = offset + len(rows)
    token = base64.urlsafe_b64encode(str(nxt).encode()).decode() if nxt < len(ordered) else None
    return 200, {
        "versions": [{"generation": g, "timestamp": iso(ts)} for g, ts in rows],
        "pagination": {"next_token": token},
    }
