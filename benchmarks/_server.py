"""A minimal fast API stand-in for overhead benchmarks, run in a child process (loopback)."""

from __future__ import annotations

import json
import multiprocessing
import socket
from typing import Any

from aiohttp import web

TS = "2026-05-04T10:00:00Z"
UUID = "11111111-1111-4111-8111-111111111111"
SCAN: dict[str, Any] = {
    "uuid": UUID,
    "tsg_id": "1234567890",
    "created_at": TS,
    "updated_at": TS,
    "model_uri": "hf://org/model",
    "owner": "bench",
    "scan_origin": "MODEL_SECURITY_SDK",
    "security_group_uuid": UUID,
    "security_group_name": "Default HUGGING_FACE",
    "eval_outcome": "ALLOWED",
    "source_type": "HUGGING_FACE",
    "labels": [{"key": "team", "value": "ml"}],
    "eval_summary": {"rules_failed": 0, "rules_passed": 11, "total_rules": 11},
}
SCAN_BODY = json.dumps(SCAN).encode()
LIST_BODY = json.dumps(
    {"pagination": {"total_items": 20}, "scans": [SCAN] * 20, "count_capped": False}
).encode()


def _app(latency: float) -> web.Application:
    import asyncio

    async def token(_: web.Request) -> web.Response:
        return web.json_response({"access_token": "bench-token", "expires_in": 3600})

    async def get_scan(_: web.Request) -> web.Response:
        if latency:
            await asyncio.sleep(latency)
        return web.Response(body=SCAN_BODY, content_type="application/json")

    async def list_scans(_: web.Request) -> web.Response:
        if latency:
            await asyncio.sleep(latency)
        return web.Response(body=LIST_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/oauth2/access_token", token)
    app.router.add_get("/aims/data/v1/scans/{uuid}", get_scan)
    app.router.add_get("/aims/data/v1/scans", list_scans)
    return app


def _serve(sock: socket.socket, latency: float) -> None:
    web.run_app(_app(latency), sock=sock, print=None, access_log=None, handle_signals=True)


def start(latency: float = 0.0) -> tuple[str, multiprocessing.Process]:
    """Start the server in a child process; return its base URL and the process.

    ``latency`` (seconds) is added to every API answer, as a real service's would be.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    port = sock.getsockname()[1]
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_serve, args=(sock, latency), daemon=True)
    proc.start()
    sock.close()
    return f"http://127.0.0.1:{port}", proc
