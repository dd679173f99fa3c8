"""The emulator's aiohttp application: token endpoint, both planes, faults and counters.

One catch-all handler does, in order: counters, fault injection (token endpoint only when
asked), bearer-token check (401), routing from the spec (404/405), FastAPI-style validation
(422), the operation, and - for a ``reset_after`` fault - a connection drop after the server
acted. Responses are built from :mod:`modelsec.emulator.store` per the specs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import datetime as _dt
import json
import logging
import math
import secrets
import time
import uuid as _uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from modelsec.emulator.faults import FaultPlanner, Faults
from modelsec.emulator.hub import RemoteRef, parse_front_matter, parse_remote_uri
from modelsec.emulator.labels_query import LabelsQueryError, parse_labels_query
from modelsec.emulator.spec import Route, load_routes
from modelsec.emulator.store import (
    CustomRule,
    Group,
    Model,
    ModelVersion,
    RuleInst,
    Scan,
    Store,
    TenantStore,
    fingerprint,
    iso,
    new_uuid,
    utcnow,
)
from modelsec.emulator.validation import ErrorList, parse_datetime
from modelsec.policy.catalog import BUILTIN_RULES, rule_by_uuid
from modelsec.policy.evaluate import (
    CustomRuleInstance,
    EvaluationResult,
    RuleInstance,
    SourceMetadata,
    evaluate_scan,
)

__all__ = ["Credential", "EmulatorConfig", "EmulatorService", "Stats"]

log = logging.getLogger("modelsec.emulator")

TOKEN_PATH = "/oauth2/access_token"
PLANES = {"/aims/data": "data", "/aims/mgmt": "mgmt"}


@dataclass
class Credential:
    """OAuth client credentials and the tenants (TSG ids) they may ask tokens for."""

    client_id: str
    client_secret: str
    tsg_ids: tuple[str, ...]


@dataclass
class EmulatorConfig:
    """Behaviour knobs of the emulator (see :class:`modelsec.emulator.Emulator`)."""

    credentials: dict[str, Credential]
    token_lifetime: float = 900.0
    settle_delay: float = 0.5
    activation_delay: float = 0.5
    hub: str | None = None
    pypi_lifetime: float = 3600.0


@dataclass
class Stats:
    """Counters for tests and benchmarks.

    ``requests`` counts ``(method, route template or raw path, status)``; ``token_requests``
    every call of the token endpoint; ``connections_opened`` distinct TCP connections that sent
    at least one request; ``faults`` injected faults by kind.
    """

    token_requests: int = 0
    tokens_issued: int = 0
    connections_opened: int = 0
    requests: collections.Counter[tuple[str, str, int]] = field(default_factory=collections.Counter)
    faults: collections.Counter[str] = field(default_factory=collections.Counter)

    def count(
        self, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> int:
        """Requests matching the given method / path template / status.

        Example:
            >>> s = Stats(); s.requests[("POST", "/aims/data/v1/scans", 201)] += 2
            >>> s.count("POST", "/aims/data/v1/scans"), s.count(status=500)
            (2, 0)
        """
        return sum(
            n
            for (m, p, st), n in self.requests.items()
            if (method is None or m == method.upper())
            and (path is None or p == path)
            and (status is None or st == status)
        )


class HttpError(Exception):
    """An error answer ``{"detail": ...}``."""

    def __init__(self, status: int, detail: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def _not_found(what: str) -> HttpError:
    return HttpError(404, f"{what} not found")


def _value_error(loc: list[Any], msg: str, input_: Any) -> HttpError:
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


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers,
    )


def _page(items: list[Any], skip: int, limit: int | None) -> list[Any]:
    skip = max(0, skip)
    if limit is None:
        return items[skip:]
    return items[skip : skip + max(0, limit)]


def _pagination(total: int) -> dict[str, Any]:
    return {"total_items": total}


def _by_time(items: list[Any], attr: str = "created_at", desc: bool = True) -> list[Any]:
    return sorted(items, key=lambda o: (getattr(o, attr), o.seq), reverse=desc)


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


Handler = Callable[[Ctx], Awaitable[tuple[int, Any]]]


class EmulatorService:
    """State and behaviour of one emulator instance (store, tokens, faults, counters)."""

    def __init__(self, config: EmulatorConfig, faults: Faults | None = None) -> None:
        self.config = config
        self.store = Store()
        self.stats = Stats()
        self.routes = load_routes()
        self.tokens: dict[str, tuple[str, str, float]] = {}
        self._faults = faults or Faults()
        self._planner: FaultPlanner = self._faults.planner()
        self._connections: set[tuple[Any, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Handler] = {
            name[3:]: getattr(self, name) for name in dir(self) if name.startswith("op_")
        }

    # ------------------------------------------------------------------ faults & tokens
    @property
    def faults(self) -> Faults:
        """Current faults; assigning restarts the deterministic random stream."""
        return self._faults

    @faults.setter
    def faults(self, value: Faults | None) -> None:
        self._faults = value or Faults()
        self._planner = self._faults.planner()

    def expire_tokens(self, tsg_id: str | None = None) -> int:
        """Invalidate every token (of one tenant); returns how many."""
        doomed = [t for t, (tsg, _, _) in self.tokens.items() if tsg_id in (None, tsg)]
        for t in doomed:
            del self.tokens[t]
        return len(doomed)

    def _token_owner(self, request: web.Request) -> tuple[str, str, str] | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        entry = self.tokens.get(token)
        if entry is None:
            return None
        tsg, client, expires = entry
        if time.monotonic() >= expires:
            del self.tokens[token]
            return None
        return token, tsg, client

    async def _token_endpoint(self, request: web.Request) -> web.Response:
        self.stats.token_requests += 1
        if request.method != "POST":
            return _json(405, {"error": "invalid_request", "error_description": "Use POST"})
        try:
            form = await request.post()
        except Exception:
            form = {}  # type: ignore[assignment]
        client_id = client_secret = None
        auth = request.headers.get("Authorization", "")
        scheme, _, b64 = auth.partition(" ")
        if scheme.lower() == "basic" and b64:
            try:
                raw = base64.b64decode(b64.strip(), validate=True).decode()
                client_id, _, client_secret = raw.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = None
        if client_id is None and form.get("client_id"):
            client_id = str(form.get("client_id"))
            client_secret = str(form.get("client_secret", ""))
        grant = form.get("grant_type")
        if not grant:
            return _json(
                400, {"error": "invalid_request", "error_description": "Missing grant_type"}
            )
        if grant != "client_credentials":
            return _json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Unsupported grant type: {grant!s}",
                },
            )
        cred = self.config.credentials.get(client_id or "")
        if cred is None or not secrets.compare_digest(cred.client_secret, client_secret or ""):
            return _json(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                {"WWW-Authenticate": 'Basic realm="oauth2"'},
            )
        scope = str(form.get("scope", ""))
        tsgs = [s[len("tsg_id:") :] for s in scope.split() if s.startswith("tsg_id:")]
        if len(tsgs) != 1 or not tsgs[0]:
            return _json(
                400,
                {"error": "invalid_scope", "error_description": "scope must be tsg_id:<TSG_ID>"},
            )
        if tsgs[0] not in cred.tsg_ids:
            return _json(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": f"Client is not authorized for tsg_id {tsgs[0]}",
                },
            )
        token = "emu-" + secrets.token_urlsafe(32)
        lifetime = self.config.token_lifetime
        self.tokens[token] = (tsgs[0], cred.client_id, time.monotonic() + lifetime)
        self.stats.tokens_issued += 1
        return _json(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": max(1, math.floor(lifetime)),
                "scope": f"profile tsg_id:{tsgs[0]} email",
            },
        )

    # ------------------------------------------------------------------ plumbing
    def make_app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _abort(self, request: web.Request, body: bytes | None) -> web.StreamResponse:
        transport = request.transport
        if body is None:
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError  # aiohttp drops the handler quietly
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.content_length = len(body) + 64
        await resp.prepare(request)
        await resp.write(body[: max(1, len(body) // 2)])
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            key = (transport.get_extra_info("peername"), id(transport))
            if key not in self._connections:
                self._connections.add(key)
                self.stats.connections_opened += 1
        label = request.path
        status = 500
        try:
            resp, label = await self._handle(request)
            status = resp.status
            return resp
        except asyncio.CancelledError:
            status = 0
            raise
        finally:
            self.stats.requests[(request.method, label, status)] += 1

    async def _handle(self, request: web.Request) -> tuple[web.StreamResponse, str]:
        path = request.path
        is_token = path.rstrip("/") == TOKEN_PATH
        plane = sub = None
        for prefix, name in PLANES.items():
            if path.startswith(prefix + "/"):
                plane, sub = name, path[len(prefix) :]
        fault_path = TOKEN_PATH if is_token else (sub or path)
        action = None
        if self._faults.applies(request.method, fault_path, is_token=is_token):
            delay = self._planner.latency()
            action = self._planner.next_action()
            if delay > 0:
                await asyncio.sleep(delay)
            if action is not None:
                if isinstance(action, str) and action.startswith("latency:"):
                    await asyncio.sleep(float(action.split(":", 1)[1]))
                    action = None
                else:
                    self.stats.faults[str(action)] += 1
        if action is not None and action != "reset_after":
            if action == "reset_before":
                return await self._abort(request, None), path
            if action in ("429", 429):
                ra = self._faults.retry_after
                return _json(
                    429,
                    {"detail": "Too Many Requests"},
                    {"Retry-After": str(ra if isinstance(ra, str) else math.ceil(ra))},
                ), path
            if action == "expire_token":
                owner = self._token_owner(request)
                if owner:
                    self.tokens.pop(owner[0], None)
            elif isinstance(action, int) or (isinstance(action, str) and action.isdigit()):
                code = int(action)
                return _json(code, {"detail": f"Injected fault {code}"}), path
        if is_token:
            resp = await self._token_endpoint(request)
            if action == "reset_after":
                return await self._abort(
                    request, resp.body if isinstance(resp.body, bytes) else b"{}"
                ), path
            return resp, path
        if plane is None or sub is None:
            return _json(404, {"detail": "Not Found"}), path
        owner = self._token_owner(request)
        if owner is None:
            return _json(
                401,
                {"detail": "Not authenticated: missing, invalid or expired bearer token"},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ), path
        _, tsg, client = owner
        try:
            route, raw = self.routes.match(plane, request.method, sub)
        except LookupError as exc:
            if str(exc) == "405":
                return _json(405, {"detail": "Method Not Allowed"}), path
            return _json(404, {"detail": "Not Found"}), path
        label = f"/aims/{plane}{route.template}"
        try:
            params, body = await self._validate(request, route, raw)
            ctx = Ctx(request, route, self.store.tenant(tsg), tsg, client, params, body)
            status, payload = await self._handlers[route.operation_id](ctx)
        except HttpError as exc:
            return _json(exc.status, {"detail": exc.detail}, exc.headers), label
        resp = web.Response(status=204) if status == 204 else _json(status, payload)
        if action == "reset_after":
            return await self._abort(
                request, resp.body if isinstance(resp.body, bytes) else b""
            ), label
        return resp, label

    async def _validate(
        self, request: web.Request, route: Route, raw_path: dict[str, str]
    ) -> tuple[dict[str, Any], Any]:
        v = route.validator
        errors: ErrorList = []
        params: dict[str, Any] = {}
        query = request.rel_url.query
        ordered = sorted(route.parameters, key=lambda p: 0 if p["in"] == "path" else 1)
        for p in ordered:
            name, where, schema = p["name"], p["in"], p.get("schema", {})
            loc = (where, name)
            if where == "path":
                value: Any = raw_path.get(name)
            elif where == "query":
                if v.is_array(schema):
                    value = query.getall(name) if name in query else None
                else:
                    value = query.getall(name)[-1] if name in query else None
            else:
                continue
            if value is None:
                if p.get("required"):
                    errors.append(
                        {
                            "type": "missing",
                            "loc": list(loc),
                            "msg": "Field required",
                            "input": None,
                        }
                    )
                    continue
                default = v.resolve(schema).get("default")
                params[name] = default
                continue
            coerced, errs = v.validate(schema, value, loc, from_query=True)
            errors.extend(errs)
            params[name] = coerced
        body: Any = None
        if route.body_schema is not None:
            raw = await request.read()
            if not raw.strip():
                if route.body_required:
                    errors.append(
                        {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
                    )
            else:
                try:
                    body = json.loads(raw)
                except (ValueError, UnicodeDecodeError) as exc:
                    pos = getattr(exc, "pos", 0)
                    msg = getattr(exc, "msg", "Invalid JSON")
                    raise HttpError(
                        422,
                        [
                            {
                                "type": "json_invalid",
                                "loc": ["body", pos],
                                "msg": "JSON decode error",
                                "input": {},
                                "ctx": {"error": msg},
                            }
                        ],
                    ) from None
                _, errs = v.validate(route.body_schema, body, ("body",))
                errors.extend(errs)
        if errors:
            raise HttpError(422, errors)
        return params, body

    # ------------------------------------------------------------------ lookups
    def _group(self, ctx: Ctx, uuid: str, *, live: bool = False) -> Group:
        g = ctx.tenant.groups.get(uuid)
        if g is None or (live and g.is_tombstone):
            raise _not_found("Security group")
        return g

    def _scan(self, ctx: Ctx, uuid: str) -> Scan:
        s = ctx.tenant.scans.get(uuid)
        if s is None:
            raise _not_found("Scan")
        return s

    def _custom(self, ctx: Ctx, uuid: str) -> CustomRule:
        c = ctx.tenant.custom_rules.get(uuid)
        if c is None:
            raise _not_found("Custom rule")
        return c

    # ------------------------------------------------------------------ data plane: scans
    async def op_create_scan(self, ctx: Ctx) -> tuple[int, Any]:
        body = ctx.body
        group = self._group(ctx, str(_uuid.UUID(body["security_group_uuid"])), live=True)
        labels: dict[str, str] = {}
        for lab in body.get("labels") or []:
            labels[lab["key"]] = lab["value"]
        enabled = sum(
            1 for ri in ctx.tenant.group_rule_instances(group.uuid) if ri.state != "DISABLED"
        )
        scan = Scan(
            uuid=new_uuid(),
            tsg_id=ctx.tsg_id,
            request=dict(body),
            group_uuid=group.uuid,
            group_name=group.name,
            source_type=group.source_type,
            owner=ctx.client_id[:256],
            created_by=str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"client:{ctx.client_id}")),
            labels=labels,
            enabled_rule_count=enabled,
        )
        ctx.tenant.scans[scan.uuid] = scan
        self._spawn(self._settle(ctx.tenant, scan))
        return 201, scan.wire()

    async def op_list_scans(self, ctx: Ctx) -> tuple[int, Any]:
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
        scans = self._time_filter(scans, p)
        if p.get("labels_query"):
            try:
                pred = parse_labels_query(p["labels_query"])
            except LabelsQueryError as exc:
                raise _value_error(["query", "labels_query"], str(exc), p["labels_query"]) from None
            scans = [s for s in scans if pred(s.labels)]
        scans = _by_time(scans, desc=p.get("sort_order") != "asc")
        return 200, {
            "pagination": _pagination(len(scans)),
            "count_capped": False,
            "scans": [s.wire() for s in _page(scans, p["skip"], p["limit"])],
        }

    @staticmethod
    def _time_filter(items: list[Any], p: Mapping[str, Any]) -> list[Any]:
        start = parse_datetime(p["start_time"]) if p.get("start_time") else None
        end = parse_datetime(p["end_time"]) if p.get("end_time") else None
        if start:
            items = [s for s in items if s.created_at >= start]
        if end:
            items = [s for s in items if s.created_at <= end]
        return items

    async def op_get_scan(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, self._scan(ctx, ctx.params["uuid"]).wire()

    async def op_get_scan_evaluations(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        evs = list(self._scan(ctx, p["scan_uuid"]).evaluations)
        if p.get("result"):
            evs = [e for e in evs if e["result"] == p["result"]]
        if p.get("rule_instance_uuid"):
            evs = [e for e in evs if e["rule_instance_uuid"] == p["rule_instance_uuid"]]
        field_ = p.get("sort_field") or "created_at"
        evs = sorted(
            evs, key=lambda e: (e[field_], e["_seq"]), reverse=p.get("sort_order") != "asc"
        )
        return 200, {
            "pagination": _pagination(len(evs)),
            "evaluations": [_public(e) for e in _page(evs, p["skip"], p["limit"])],
        }

    async def op_get_scan_violations(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        vs = self._scan(ctx, p["scan_uuid"]).violations
        return 200, {
            "pagination": _pagination(len(vs)),
            "violations": [_public(v) for v in _page(vs, p["skip"], p["limit"])],
        }

    async def op_get_evaluation(self, ctx: Ctx) -> tuple[int, Any]:
        e = ctx.tenant.evaluations.get(ctx.params["uuid"])
        if e is None:
            raise _not_found("Evaluation")
        return 200, _public(e)

    async def op_get_violation(self, ctx: Ctx) -> tuple[int, Any]:
        v = ctx.tenant.violations.get(ctx.params["uuid"])
        if v is None:
            raise _not_found("Violation")
        return 200, _public(v)

    async def op_get_files(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        files = self._scan(ctx, p["scan_uuid"]).files
        return 200, _files_page(files, p)

    # labels
    def _labels_body(self, body: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for lab in body["labels"]:
            out[lab["key"]] = lab["value"]
        return out

    def _check_label_count(self, labels: Mapping[str, str], body: Any) -> None:
        if len(labels) > 50:
            raise _value_error(["body", "labels"], "a scan has at most 50 labels", body)

    async def op_add_scan_labels(self, ctx: Ctx) -> tuple[int, Any]:
        scan = self._scan(ctx, ctx.params["scan_uuid"])
        merged = dict(scan.labels)
        merged.update(self._labels_body(ctx.body))
        self._check_label_count(merged, ctx.body)
        scan.labels = merged
        scan.updated_at = utcnow()
        return 200, {}

    async def op_set_scan_labels(self, ctx: Ctx) -> tuple[int, Any]:
        scan = self._scan(ctx, ctx.params["scan_uuid"])
        scan.labels = self._labels_body(ctx.body)
        scan.updated_at = utcnow()
        return 200, {}

    async def op_delete_scan_labels(self, ctx: Ctx) -> tuple[int, Any]:
        scan = self._scan(ctx, ctx.params["scan_uuid"])
        for k in ctx.params["keys"]:
            scan.labels.pop(k, None)
        scan.updated_at = utcnow()
        return 204, None

    async def op_list_scan_label_keys(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        keys = sorted({k for s in ctx.tenant.scans.values() for k in s.labels})
        if p.get("search"):
            keys = [k for k in keys if p["search"].lower() in k.lower()]
        return 200, {
            "pagination": _pagination(len(keys)),
            "keys": _page(keys, p["skip"], p["limit"]),
        }

    async def op_list_scan_label_key_values(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        key = p["key"]
        values = sorted({s.labels[key] for s in ctx.tenant.scans.values() if key in s.labels})
        if p.get("search"):
            values = [x for x in values if p["search"].lower() in x.lower()]
        return 200, {
            "pagination": _pagination(len(values)),
            "values": _page(values, p["skip"], p["limit"]),
        }

    # ------------------------------------------------------------------ data plane: models
    async def op_list_models(self, ctx: Ctx) -> tuple[int, Any]:
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
                m
                for m in models
                if latest(m).get("last_eval_outcome") in p["latest_version_outcomes"]
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
        models = self._time_filter(models, p)
        models = _by_time(models, p.get("sort_field") or "created_at", p.get("sort_order") != "asc")
        return 200, {
            "pagination": _pagination(len(models)),
            "models": [
                self._model_wire(ctx.tenant, m) for m in _page(models, p["skip"], p["limit"])
            ],
        }

    def _model_wire(self, t: TenantStore, m: Model) -> dict[str, Any]:
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

    async def op_get_model(self, ctx: Ctx) -> tuple[int, Any]:
        m = ctx.tenant.models.get(ctx.params["uuid"])
        if m is None:
            raise _not_found("Model")
        return 200, self._model_wire(ctx.tenant, m)

    async def op_list_model_versions(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        m = ctx.tenant.models.get(p["uuid"])
        if m is None:
            raise _not_found("Model")
        vs = _by_time(
            [ctx.tenant.model_versions[v] for v in m.versions], desc=p.get("sort_order") != "asc"
        )
        return 200, {
            "pagination": _pagination(len(vs)),
            "model_versions": [v.wire() for v in _page(vs, p["skip"], p["limit"])],
        }

    async def op_get_model_version(self, ctx: Ctx) -> tuple[int, Any]:
        v = ctx.tenant.model_versions.get(ctx.params["uuid"])
        if v is None:
            raise _not_found("Model version")
        return 200, v.wire()

    async def op_list_model_version_files(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        v = ctx.tenant.model_versions.get(p["uuid"])
        if v is None:
            raise _not_found("Model version")
        files = sorted(v.files, key=lambda f: f["path"])
        return 200, {
            "pagination": _pagination(len(files)),
            "files": [_public(f) for f in _page(files, p["skip"], p["limit"])],
        }

    # ------------------------------------------------------------------ management plane
    async def op_get_pypi_url(self, ctx: Ctx) -> tuple[int, Any]:
        cred = secrets.token_urlsafe(24)
        expires = utcnow() + _dt.timedelta(seconds=self.config.pypi_lifetime)
        return 200, {
            "url": (
                f"https://oauth2accesstoken:{cred}@us-python.pkg.dev/"
                "emulated-project/model-security-client/simple/"
            ),
            "expires_at": iso(expires),
        }

    async def op_list_security_groups(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        groups = [g for g in ctx.tenant.groups.values() if not g.is_tombstone]
        if p.get("source_types"):
            groups = [g for g in groups if g.source_type in p["source_types"]]
        if p.get("search_query"):
            q = p["search_query"].lower()
            groups = [g for g in groups if q in g.name.lower() or q in g.uuid]
        if p.get("enabled_rules"):
            want = set(p["enabled_rules"])

            def enabled(g: Group) -> bool:
                on = {
                    ri.rule.uuid
                    for ri in ctx.tenant.group_rule_instances(g.uuid)
                    if ri.state != "DISABLED"
                }
                on |= {
                    c.uuid
                    for c in ctx.tenant.custom_rules.values()
                    if g.uuid in c.assignments and c.assignments[g.uuid][1] != "DISABLED"
                }
                return want <= on

            groups = [g for g in groups if enabled(g)]
        groups = _by_time(groups, p.get("sort_field") or "created_at", p.get("sort_dir") != "asc")
        return 200, {
            "pagination": _pagination(len(groups)),
            "security_groups": [g.wire() for g in _page(groups, p["skip"], p["limit"])],
        }

    async def op_create_security_group(self, ctx: Ctx) -> tuple[int, Any]:
        body = ctx.body
        source = body["source_type"]
        confs: dict[str, Any] = {}
        for key, conf in (body.get("rule_configurations") or {}).items():
            loc = ["body", "rule_configurations", key]
            rule = rule_by_uuid(key) if _is_uuid(key) else None
            if rule is None:
                raise _value_error(loc, f"unknown security rule {key}", key)
            if not rule.applies_to(source):
                raise _value_error(loc, f"rule '{rule.name}' does not apply to {source}", key)
            _check_field_values(rule, conf.get("field_values"), [*loc, "field_values"])
            confs[rule.uuid] = conf
        for g in ctx.tenant.groups.values():
            if not g.is_tombstone and g.name == body["name"]:
                raise HttpError(409, f"A security group named '{body['name']}' already exists")
        group = ctx.tenant.add_group(
            body["name"],
            source,
            body.get("description") or "",
            active_at=utcnow() + _dt.timedelta(seconds=self.config.activation_delay),
            rule_configurations=confs,
        )
        return 201, group.wire()

    async def op_get_security_group(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, self._group(ctx, ctx.params["uuid"]).wire()

    async def op_update_security_group(self, ctx: Ctx) -> tuple[int, Any]:
        g = self._group(ctx, ctx.params["uuid"], live=True)
        if ctx.body.get("name") is not None:
            name = ctx.body["name"]
            for other in ctx.tenant.groups.values():
                if other is not g and not other.is_tombstone and other.name == name:
                    raise HttpError(409, f"A security group named '{name}' already exists")
            g.name = name
        if ctx.body.get("description") is not None:
            g.description = ctx.body["description"]
        g.updated_at = utcnow()
        return 200, g.wire()

    async def op_delete_security_group(self, ctx: Ctx) -> tuple[int, Any]:
        g = self._group(ctx, ctx.params["uuid"], live=True)
        g.is_tombstone = True
        g.updated_at = utcnow()
        return 204, None

    async def op_list_rule_instances(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        g = self._group(ctx, p["security_group_uuid"])
        ris = ctx.tenant.group_rule_instances(g.uuid)
        if p.get("security_rule_uuid"):
            ris = [ri for ri in ris if ri.rule.uuid == p["security_rule_uuid"]]
        if p.get("state"):
            ris = [ri for ri in ris if ri.state == p["state"]]
        return 200, {
            "pagination": _pagination(len(ris)),
            "rule_instances": [ri.wire() for ri in _page(ris, p["skip"], p["limit"])],
        }

    def _rule_instance(self, ctx: Ctx) -> tuple[Group, RuleInst]:
        p = ctx.params
        g = self._group(ctx, p["security_group_uuid"])
        ri = ctx.tenant.rule_instances.get(p["rule_instance_uuid"])
        if ri is None or ri.group_uuid != g.uuid:
            raise _not_found("Rule instance")
        return g, ri

    async def op_get_rule_instance(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, self._rule_instance(ctx)[1].wire()

    async def op_update_rule_instance(self, ctx: Ctx) -> tuple[int, Any]:
        g, ri = self._rule_instance(ctx)
        if g.is_tombstone:
            raise _not_found("Security group")
        body = ctx.body
        if str(_uuid.UUID(body["security_group_uuid"])) != g.uuid:
            raise _value_error(
                ["body", "security_group_uuid"],
                "security_group_uuid must match the security group in the path",
                body["security_group_uuid"],
            )
        fv = body.get("field_values")
        _check_field_values(ri.rule, fv, ["body", "field_values"])
        if body.get("state") is not None:
            ri.state = body["state"]
        if fv:
            for k, v in fv.items():
                ri.field_values[k] = [str(x) for x in v]
        ri.updated_at = utcnow()
        g.bump()
        return 200, ri.wire()

    async def op_list_security_rules(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        rules = list(BUILTIN_RULES)
        if p.get("source_type"):
            rules = [r for r in rules if r.applies_to(p["source_type"])]
        if p.get("search_query"):
            q = p["search_query"].lower()
            rules = [r for r in rules if q in r.name.lower() or q in r.uuid]
        return 200, {
            "pagination": _pagination(len(rules)),
            "rules": [r.to_dict() for r in _page(rules, p["skip"], p["limit"])],
        }

    async def op_get_security_rule(self, ctx: Ctx) -> tuple[int, Any]:
        r = rule_by_uuid(ctx.params["uuid"])
        if r is None:
            raise _not_found("Security rule")
        return 200, r.to_dict()

    # versions
    def _versions(self, ctx: Ctx, versions: list[tuple[int, _dt.datetime]]) -> tuple[int, Any]:
        p = ctx.params
        offset = 0
        if p.get("next_token"):
            try:
                offset = int(base64.urlsafe_b64decode(p["next_token"].encode()).decode())
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise _value_error(
                    ["query", "next_token"], "invalid next_token", p["next_token"]
                ) from None
        ordered = sorted(versions, reverse=True)
        page = ordered[offset : offset + p["limit"]]
        nxt = offset + len(page)
        token = base64.urlsafe_b64encode(str(nxt).encode()).decode() if nxt < len(ordered) else None
        return 200, {
            "versions": [{"generation": g, "timestamp": iso(ts)} for g, ts in page],
            "pagination": {"next_token": token},
        }

    async def op_list_security_rule_versions(self, ctx: Ctx) -> tuple[int, Any]:
        return self._versions(ctx, [(1, self.store.started_at)])

    async def op_list_custom_rule_versions(self, ctx: Ctx) -> tuple[int, Any]:
        return self._versions(ctx, ctx.tenant.custom_rule_versions)

    async def op_list_rule_instance_versions(self, ctx: Ctx) -> tuple[int, Any]:
        g = self._group(ctx, ctx.params["security_group_uuid"])
        return self._versions(ctx, g.versions)

    # custom rules
    def _check_condition(self, ctx: Ctx, cond: Any) -> None:
        if not isinstance(cond, Mapping):
            return
        if cond.get("type") == "rule_result":
            ref = str(cond.get("rule_uuid", "")).lower()
            if rule_by_uuid(ref) is None and ref not in ctx.tenant.custom_rules:
                raise _value_error(["body", "condition"], f"unknown rule_uuid {ref}", cond)
        for sub in cond.get("conditions") or []:
            self._check_condition(ctx, sub)

    async def op_list_custom_rules(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        rules = list(ctx.tenant.custom_rules.values())
        if p.get("is_archived") is not None:
            rules = [r for r in rules if r.is_archived == p["is_archived"]]
        if p.get("search_query"):
            q = p["search_query"].lower()
            rules = [r for r in rules if q in r.data["name"].lower() or q in r.uuid]
        if p.get("source_type"):
            st = p["source_type"]
            rules = [
                r
                for r in rules
                if st == "ALL"
                or "ALL" in r.data["compatible_sources"]
                or st in r.data["compatible_sources"]
            ]
        rules = _by_time(rules)
        return 200, {
            "pagination": _pagination(len(rules)),
            "custom_rules": [r.wire(list_item=True) for r in _page(rules, p["skip"], p["limit"])],
        }

    async def op_create_custom_rule(self, ctx: Ctx) -> tuple[int, Any]:
        self._check_condition(ctx, ctx.body.get("condition"))
        data = dict(ctx.body)
        data.setdefault("rule_action", "FAIL")
        who = str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"client:{ctx.client_id}"))
        rule = CustomRule(
            uuid=new_uuid(), tsg_id=ctx.tsg_id, data=data, created_by=who, updated_by=who
        )
        ctx.tenant.custom_rules[rule.uuid] = rule
        ctx.tenant.bump_custom_rules()
        return 201, rule.wire()

    async def op_get_custom_rule(self, ctx: Ctx) -> tuple[int, Any]:
        return 200, self._custom(ctx, ctx.params["uuid"]).wire()

    async def op_update_custom_rule(self, ctx: Ctx) -> tuple[int, Any]:
        rule = self._custom(ctx, ctx.params["uuid"])
        self._check_condition(ctx, ctx.body.get("condition"))
        for k, v in ctx.body.items():
            if v is not None:
                rule.data[k] = v
        rule.updated_at = utcnow()
        rule.updated_by = str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"client:{ctx.client_id}"))
        ctx.tenant.bump_custom_rules()
        return 200, rule.wire()

    async def op_archive_custom_rule(self, ctx: Ctx) -> tuple[int, Any]:
        return self._set_archived(ctx, True)

    async def op_unarchive_custom_rule(self, ctx: Ctx) -> tuple[int, Any]:
        return self._set_archived(ctx, False)

    def _set_archived(self, ctx: Ctx, value: bool) -> tuple[int, Any]:
        rule = self._custom(ctx, ctx.params["uuid"])
        rule.is_archived = value
        rule.updated_at = utcnow()
        ctx.tenant.bump_custom_rules()
        return 200, rule.wire()

    async def op_list_custom_rule_security_groups(self, ctx: Ctx) -> tuple[int, Any]:
        p = ctx.params
        rule = self._custom(ctx, p["uuid"])
        rows = []
        for guuid, (_, state) in rule.assignments.items():
            g = ctx.tenant.groups.get(guuid)
            if g is None or g.is_tombstone:
                continue
            rows.append(
                {"uuid": g.uuid, "name": g.name, "source_type": g.source_type, "rule_state": state}
            )
        return 200, {
            "pagination": _pagination(len(rows)),
            "security_groups": _page(rows, p["skip"], p["limit"]),
        }

    async def op_assign_custom_rule_security_groups(self, ctx: Ctx) -> tuple[int, Any]:
        rule = self._custom(ctx, ctx.params["uuid"])
        results = []
        sources = rule.data["compatible_sources"]
        for a in ctx.body["assignments"]:
            guuid = str(_uuid.UUID(a["security_group_uuid"]))
            g = ctx.tenant.groups.get(guuid)
            row: dict[str, Any] = {"security_group_uuid": guuid}
            if g is None or g.is_tombstone:
                row.update(
                    status="error", error="Security group not found", rule_instance_uuid=None
                )
            elif "ALL" not in sources and g.source_type not in sources and g.source_type != "ALL":
                row.update(
                    status="error",
                    error=f"Custom rule is not compatible with source type {g.source_type}",
                    rule_instance_uuid=None,
                )
            elif rule.is_archived:
                row.update(status="error", error="Custom rule is archived", rule_instance_uuid=None)
            else:
                existing = rule.assignments.get(guuid)
                ri_uuid = existing[0] if existing else new_uuid()
                rule.assignments[guuid] = (ri_uuid, a["state"])
                g.bump()
                row.update(
                    status="updated" if existing else "created",
                    error=None,
                    rule_instance_uuid=ri_uuid,
                )
            results.append(row)
        ctx.tenant.bump_custom_rules()
        return 207, {"results": results}

    async def op_remove_custom_rule_assignment(self, ctx: Ctx) -> tuple[int, Any]:
        rule = self._custom(ctx, ctx.params["uuid"])
        guuid = ctx.params["security_group_uuid"]
        if guuid not in rule.assignments:
            raise _not_found("Assignment")
        del rule.assignments[guuid]
        g = ctx.tenant.groups.get(guuid)
        if g is not None:
            g.bump()
        ctx.tenant.bump_custom_rules()
        return 204, None

    # ------------------------------------------------------------------ settling scans
    async def _settle(self, t: TenantStore, scan: Scan) -> None:
        await asyncio.sleep(self.config.settle_delay)
        try:
            await self._process(t, scan)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a scanner crash: the scan ends in ERROR
            log.exception("scan %s failed", scan.uuid)
            scan.eval_outcome = "ERROR"
            scan.error_code = "INTERNAL_ERROR"
            scan.error_message = f"{type(exc).__name__}: {exc}"[:1024]
            scan.updated_at = utcnow()

    def _hub_path(self, ref: RemoteRef | None) -> Path | None:
        if ref is None or not self.config.hub:
            return None
        return ref.resolve(self.config.hub)

    async def _process(self, t: TenantStore, scan: Scan) -> None:
        req = scan.request
        details: dict[str, Any] | None = req.get("scan_details")
        ref = parse_remote_uri(scan.model_uri)
        hub_path = self._hub_path(ref)
        meta: SourceMetadata | None = None
        error: tuple[str, str] | None = None
        if details is None:
            if hub_path is None:
                error = ("MISSING_ARTIFACTS", f"No model artifacts found at {scan.model_uri}")
            else:
                loop = asyncio.get_running_loop()
                try:
                    details = await loop.run_in_executor(
                        None,
                        _scan_with_scanner,
                        str(hub_path),
                        req.get("allow_patterns"),
                        req.get("ignore_patterns"),
                    )
                except ImportError as exc:
                    error = ("SCAN_ERROR", f"The server-side scanner is unavailable: {exc}")
                if (
                    details is not None
                    and not details.get("files")
                    and not details.get("error_code")
                ):
                    error = ("MISSING_ARTIFACTS", f"No model files found at {scan.model_uri}")
        if ref is not None and ref.source_type == "HUGGING_FACE" and ref.model_id:
            meta = _hf_metadata(ref, hub_path, self.config.hub)
        group = t.groups[scan.group_uuid]
        instances = [
            RuleInstance(
                ri.rule, ri.state, {k: list(v) for k, v in ri.field_values.items()}, ri.uuid
            )
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
        self._record(t, scan, result, now)
        if details is not None and details.get("files") and result.outcome != "ERROR":
            self._inventory(t, scan, details, meta, ref, hub_path, result, now)
        scan.eval_outcome = result.outcome
        scan.error_code = result.error_code
        scan.error_message = result.error_message
        scan.eval_summary = result.summary if result.outcome != "ERROR" else None
        scan.updated_at = now

    def _record(
        self, t: TenantStore, scan: Scan, result: EvaluationResult, now: _dt.datetime
    ) -> None:
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
        scan.files = _file_tree(scan, (scan.details or {}).get("files") or [], bad_files, base)

    def _inventory(
        self,
        t: TenantStore,
        scan: Scan,
        details: Mapping[str, Any],
        meta: SourceMetadata | None,
        ref: RemoteRef | None,
        hub_path: Path | None,
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
        hf_sha = None
        if hub_path is not None and (hub_path / ".revision").is_file():
            hf_sha = (hub_path / ".revision").read_text(encoding="utf-8").strip()[:128] or None
        revision = str(req.get("model_version") or hf_sha or fp[:16])
        version = next(
            (
                t.model_versions[v]
                for v in model.versions
                if t.model_versions[v].revision == revision
            ),
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


def _check_field_values(rule: Any, fv: Any, loc: list[Any]) -> None:
    if not fv:
        return
    for k, v in fv.items():
        if k not in rule.default_values:
            raise _value_error([*loc, k], f"rule '{rule.name}' has no editable field {k}", k)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise _value_error([*loc, k], "field values must be lists of strings", v)


def _is_uuid(s: str) -> bool:
    try:
        _uuid.UUID(s)
        return True
    except ValueError:
        return False


def _public(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def _norm_dir(path: str) -> str:
    p = path.strip().strip("/")
    return p or "/"


def _files_page(files: list[dict[str, Any]], p: Mapping[str, Any]) -> dict[str, Any]:
    q = _norm_dir(p.get("query_path") or "/")
    rows = [f for f in files if f["parent_path"] == q]
    key = p.get("sort_field") or "path"
    rows = sorted(rows, key=lambda f: (f[key], f["path"]), reverse=p.get("sort_dir") == "desc")
    return {
        "pagination": _pagination(len(rows)),
        "files": [_public(f) for f in _page(rows, p["skip"], p["limit"])],
    }


def _file_tree(
    scan: Scan, files: list[Mapping[str, Any]], bad: Mapping[str, bool], base: Mapping[str, Any]
) -> list[dict[str, Any]]:
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


def _hf_metadata(ref: RemoteRef, hub_path: Path | None, hub: str | None) -> SourceMetadata:
    assert ref.model_id is not None
    meta = SourceMetadata.from_model_id(ref.model_id)
    if hub_path is not None:
        readme = hub_path / "README.md"
        if readme.is_file():
            fm = parse_front_matter(readme.read_text(encoding="utf-8", errors="replace"))
            lic = fm.get("license")
            if isinstance(lic, list):
                lic = lic[0] if lic else None
            meta.license = lic or None
    if hub and meta.organization:
        marker = Path(hub) / "huggingface" / meta.organization / ".verified"
        if marker.exists():
            meta.organization_verified = True
    return meta


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
