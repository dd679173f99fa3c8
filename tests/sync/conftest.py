"""A small fake Model Security service on loopback, on its own thread and event loop.

The sync client runs on the portal loop (another thread), so the server must not live on the
test's loop: it gets a thread of its own. Counters let tests assert exact request counts.
"""

from __future__ import annotations

import asyncio
import threading
import uuid as _uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from modelsec.sync import ModelSecurityClient, shutdown

SG_UUID = "5f8b1c7e-3a2d-4e6f-9b1a-0c2d3e4f5a6b"
MISSING_UUID = "00000000-0000-4000-8000-000000000404"
N_SCANS = 25
N_VERSIONS = 7


def scan_uuid(i: int) -> str:
    return str(_uuid.UUID(int=i + 1, version=4))


def scan_json(uuid: str, outcome: str = "ALLOWED") -> dict[str, Any]:
    return {
        "uuid": uuid,
        "tsg_id": "1234567890",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:05Z",
        "model_uri": "hf://org/model",
        "owner": "tester",
        "scan_origin": "MODEL_SECURITY_SDK",
        "security_group_uuid": SG_UUID,
        "security_group_name": "default",
        "eval_outcome": outcome,
        "source_type": "HUGGING_FACE",
    }


class FakeServer:
    """aiohttp.web app on 127.0.0.1:0 in a thread; ``base`` is its URL."""

    def __init__(self) -> None:
        self.token_calls = 0
        self.hits: Counter[str] = Counter()
        self.base = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="fake-server", daemon=True)

    def reset(self) -> None:
        self.token_calls = 0
        self.hits.clear()

    # -- handlers -------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        await asyncio.sleep(0.02)  # long enough for concurrent callers to pile up
        return web.json_response(
            {"access_token": f"tok-{self.token_calls}", "expires_in": 900, "token_type": "Bearer"}
        )

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "").startswith("Bearer tok-")

    async def list_scans(self, request: web.Request) -> web.Response:
        self.hits["list_scans"] += 1
        if not self._authorized(request):
            return web.json_response({"detail": "unauthorized"}, status=401)
        skip = int(request.query.get("skip", "0"))
        limit = int(request.query.get("limit", "100"))
        scans = [scan_json(scan_uuid(i)) for i in range(skip, min(skip + limit, N_SCANS))]
        return web.json_response({"pagination": {"total_items": N_SCANS}, "scans": scans})

    async def get_scan(self, request: web.Request) -> web.Response:
        self.hits["get_scan"] += 1
        if not self._authorized(request):
            return web.json_response({"detail": "unauthorized"}, status=401)
        uuid = request.match_info["uuid"]
        if uuid == MISSING_UUID:
            return web.json_response(
                {"detail": f"scan {uuid} not found"},
                status=404,
                headers={"x-request-id": "req-404"},
            )
        return web.json_response(scan_json(uuid))

    async def create_scan(self, request: web.Request) -> web.Response:
        self.hits["create_scan"] += 1
        body = await request.json()
        scan = scan_json(str(_uuid.uuid4()), outcome="PENDING")
        scan["model_uri"] = body["model_uri"]
        return web.json_response(scan)

    async def rule_versions(self, request: web.Request) -> web.Response:
        self.hits["rule_versions"] += 1
        start = int(request.query.get("next_token") or 0)
        end = min(start + 3, N_VERSIONS)
        versions = [{"generation": g, "timestamp": f"t{g}"} for g in range(start, end)]
        nxt = str(end) if end < N_VERSIONS else None
        return web.json_response({"versions": versions, "pagination": {"next_token": nxt}})

    # -- lifecycle ------------------------------------------------------------------------

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_post("/oauth2/access_token", self.token)
        app.router.add_get("/aims/data/v1/scans", self.list_scans)
        app.router.add_post("/aims/data/v1/scans", self.create_scan)
        app.router.add_get("/aims/data/v1/scans/{uuid}", self.get_scan)
        app.router.add_get("/aims/mgmt/v1/security-rules/versions", self.rule_versions)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        self._runner = runner
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def client_kwargs(self) -> dict[str, Any]:
        return {
            "client_id": "id",
            "client_secret": "secret",
            "tsg_id": "1234567890",
            "data_endpoint": self.base + "/aims/data",
            "mgmt_endpoint": self.base + "/aims/mgmt",
            "token_endpoint": self.base + "/oauth2/access_token",
            "max_retries": 0,
        }


@pytest.fixture(scope="session")
def server() -> Iterator[FakeServer]:
    srv = FakeServer()
    srv.start()
    yield srv
    shutdown()
    srv.stop()


@pytest.fixture
def fake(server: FakeServer) -> FakeServer:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeServer) -> Iterator[ModelSecurityClient]:
    with ModelSecurityClient(**fake.client_kwargs()) as c:
        yield c
