"""The emulator's aiohttp application: wiring, fault injection, authentication, routing and
request validation in front of the handlers of :mod:`modelsec.emulator.handlers`.

One catch-all handler does, in order: counters, fault injection (token endpoint only when
asked), bearer-token check (401), routing from the spec (404/405), FastAPI-style validation
(422), the operation, and - for a ``reset_after`` fault - a connection drop after the server
acted. Responses are built from :mod:`modelsec.emulator.store` per the specs.

Example:
    >>> svc = EmulatorService(EmulatorConfig({"id": Credential("id", "s", ("1",))}))
    >>> svc.routes.by_operation("create_scan").template, svc.stats.count()
    ('/v1/scans', 0)
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import weakref
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from modelsec.emulator.config import Credential, EmulatorConfig
from modelsec.emulator.faults import FaultPlanner, Faults
from modelsec.emulator.handlers import HANDLERS
from modelsec.emulator.handlers.auth import TOKEN_PATH, Tokens
from modelsec.emulator.handlers.common import Ctx, HttpError
from modelsec.emulator.handlers.common import json_response as _json
from modelsec.emulator.spec import MethodNotAllowed, Route, load_routes
from modelsec.emulator.stats import Stats
from modelsec.emulator.store import Store
from modelsec.emulator.validation import MAX_JSON_DEPTH, ErrorList, json_too_deep

__all__ = ["TOKEN_PATH", "Credential", "EmulatorConfig", "EmulatorService", "Stats"]

log = logging.getLogger("modelsec.emulator")

PLANES = {"/aims/data": "data", "/aims/mgmt": "mgmt"}
# Methods counted by name in the statistics (llhttp's parser accepts a few dozen; the pure
# Python parser any token): every other one is counted as OTHER.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class EmulatorService:
    """State and behaviour of one emulator instance (store, tokens, faults, counters)."""

    def __init__(self, config: EmulatorConfig, faults: Faults | None = None) -> None:
        self.config = config
        self.store = Store()
        self.stats = Stats()
        self.routes = load_routes()
        self.auth = Tokens(config, self.stats)
        self._faults = faults or Faults()
        self._planner: FaultPlanner = self._faults.planner()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ faults & tokens
    @property
    def faults(self) -> Faults:
        """Current faults; assigning restarts the deterministic random stream."""
        return self._faults

    @faults.setter
    def faults(self, value: Faults | None) -> None:
        self._faults = value or Faults()
        self._planner = self._faults.planner()

    @property
    def tokens(self) -> dict[str, tuple[str, str, float]]:
        """Issued tokens: ``token -> (tsg_id, client_id, monotonic expiry)``."""
        return self.auth.tokens

    def expire_tokens(self, tsg_id: str | None = None) -> int:
        """Invalidate every token (of one tenant); returns how many."""
        return self.auth.expire(tsg_id)

    # ------------------------------------------------------------------ plumbing
    def server_limits(self) -> dict[str, int]:
        """Keyword arguments for aiohttp's request handler (``web.AppRunner(app, **...)``).

        The request line must hold the longest query the specs allow (``labels_query`` of
        4,096 characters, ``search_query`` of 1,000, percent-encoded), beyond aiohttp's
        default of 8,190 bytes.
        """
        line = max(8190, self.routes.max_request_line())
        return {"max_line_size": line, "max_field_size": 8190}

    def make_app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        # "." stops at a newline: an encoded "%0A" in a segment must reach the dispatcher too
        # (and get the JSON 401/422 of any other bad identifier), so match every character.
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._dispatch)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run background work (a scan settling) that is cancelled at shutdown."""
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

    @property
    def tracked_connections(self) -> int:
        """Connections currently remembered for ``stats.connections_opened`` (weakly held:
        a closed connection is forgotten, so many short connections cannot pile up)."""
        return len(self._connections)

    def _label(self, method: str, path: str) -> tuple[str, str]:
        """The statistics key of a request: a known method (else ``OTHER``) and the route
        template (``/aims/<plane>/*`` or ``*`` when none matches), never the raw path, so
        distinct paths cannot grow the counters."""
        meth = method if method in _KNOWN_METHODS else "OTHER"
        if path.rstrip("/") == TOKEN_PATH:
            return meth, TOKEN_PATH
        for prefix, plane in PLANES.items():
            if path.startswith(prefix + "/"):
                sub = path[len(prefix) :]
                try:
                    route: Route | None = self.routes.match(plane, method, sub)[0]
                except LookupError:  # 405 (another method's template) or 404
                    route = self.routes.route_for_path(plane, sub)
                return meth, prefix + (route.template if route else "/*")
        return meth, "*"

    def _track(self, request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            return
        try:
            if transport in self._connections:
                return
            self._connections.add(transport)
        except TypeError:  # a transport without weak references: counted every request
            pass
        self.stats.connections_opened += 1

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self._track(request)
        status = 500
        try:
            resp = await self._handle(request)
            status = resp.status
            return resp
        except asyncio.CancelledError:
            status = 0
            raise
        finally:
            method, template = self._label(request.method, request.path)
            self.stats.requests[(method, template, status)] += 1

    async def _handle(self, request: web.Request) -> web.StreamResponse:
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
                return await self._abort(request, None)
            if action in ("429", 429):
                ra = self._faults.retry_after
                return _json(
                    429,
                    {"detail": "Too Many Requests"},
                    {"Retry-After": str(ra if isinstance(ra, str) else math.ceil(ra))},
                )
            if action == "expire_token":
                owner = self.auth.owner(request)
                if owner:
                    self.auth.tokens.pop(owner[0], None)
            elif isinstance(action, int) or (isinstance(action, str) and action.isdigit()):
                code = int(action)
                return _json(code, {"detail": f"Injected fault {code}"})
        if is_token:
            resp = await self.auth.endpoint(request)
            if action == "reset_after":
                return await self._abort(
                    request, resp.body if isinstance(resp.body, bytes) else b"{}"
                )
            return resp
        if plane is None or sub is None:
            return _json(404, {"detail": "Not Found"})
        owner = self.auth.owner(request)
        if owner is None:
            return _json(
                401,
                {"detail": "Not authenticated: missing, invalid or expired bearer token"},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        _, tsg, client = owner
        try:
            route, raw = self.routes.match(plane, request.method, sub)
        except MethodNotAllowed as exc:
            # RFC 9110 15.5.6: a 405 lists the target's methods (FastAPI does too)
            allow = {"Allow": ", ".join(exc.allowed)}
            return _json(405, {"detail": "Method Not Allowed"}, allow)
        except LookupError:
            return _json(404, {"detail": "Not Found"})
        try:
            params, body = await self._validate(request, route, raw)
            ctx = Ctx(request, route, self.store.tenant(tsg), tsg, client, params, body, self)
            status, payload = await HANDLERS[route.operation_id](ctx)
        except HttpError as exc:
            return _json(exc.status, {"detail": exc.detail}, exc.headers)
        resp = web.Response(status=204) if status == 204 else _json(status, payload)
        if action == "reset_after":
            return await self._abort(request, resp.body if isinstance(resp.body, bytes) else b"")
        return resp

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
                body = _parse_body(raw)
                _, errs = v.validate(route.body_schema, body, ("body",))
                errors.extend(errs)
        if errors:
            raise HttpError(422, errors)
        return params, body


def _json_invalid(pos: int, msg: str) -> HttpError:
    return HttpError(
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
    )


def _parse_body(raw: bytes) -> Any:
    """The JSON body, or a 422 ``json_invalid`` (bad JSON, or nested beyond the limit)."""
    too_deep = f"JSON nested more than {MAX_JSON_DEPTH} levels"
    try:
        body = json.loads(raw)
    except RecursionError:  # deeper than the C decoder's own limit
        raise _json_invalid(0, too_deep) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _json_invalid(getattr(exc, "pos", 0), getattr(exc, "msg", "Invalid JSON")) from None
    if json_too_deep(body):
        raise _json_invalid(0, too_deep)
    return body
