"""Fixtures for the emulator tests: a running emulator and a raw HTTP client that validates
every response against the vendored specs (contract checking on every call)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import aiohttp
import jsonschema
import pytest

from modelsec.emulator import Emulator

SPEC_DIR = resources.files("modelsec._spec")


def _load(name: str) -> dict[str, Any]:
    with (SPEC_DIR / name).open("r", encoding="utf-8") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


SPECS = {"data": _load("openapi-data-plane.json"), "mgmt": _load("openapi-mgmt-plane.json")}
CUSTOM = {
    p.name[:-5]: json.loads(p.read_text(encoding="utf-8"))
    for p in (SPEC_DIR / "custom-rules").iterdir()
    if p.name.endswith(".json")
}

# newer operations: (method, template) -> {status: custom-rules schema name}
NEWER = {
    ("get", "/v1/custom-rules"): "ListCustomRulesResponse",
    ("post", "/v1/custom-rules"): "CustomRuleResponse",
    ("get", "/v1/custom-rules/versions"): "SnapshotVersionListResponse",
    ("get", "/v1/custom-rules/{uuid}"): "CustomRuleResponse",
    ("put", "/v1/custom-rules/{uuid}"): "CustomRuleResponse",
    ("post", "/v1/custom-rules/{uuid}/archive"): "CustomRuleResponse",
    ("post", "/v1/custom-rules/{uuid}/unarchive"): "CustomRuleResponse",
    ("get", "/v1/custom-rules/{uuid}/security-groups"): "ListCustomRuleSecurityGroupsResponse",
    ("post", "/v1/custom-rules/{uuid}/security-groups"): "BatchAssignCustomRuleResponse",
    ("delete", "/v1/custom-rules/{uuid}/security-groups/{sg}"): None,
    ("get", "/v1/security-rules/versions"): "SnapshotVersionListResponse",
    ("get", "/v1/security-groups/{sg}/rule-instances/versions"): "SnapshotVersionListResponse",
}

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _dt(value: object) -> bool:
    if not isinstance(value, str):
        return True
    s = value[:-1] + "+00:00" if value.endswith("Z") else value
    d = dt.datetime.fromisoformat(s)
    return d.tzinfo is not None


@FORMATS.checks("uuid", raises=ValueError)
def _uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


def _regex(template: str) -> re.Pattern[str]:
    parts = ["[^/]+" if s.startswith("{") else re.escape(s) for s in template.strip("/").split("/")]
    # a trailing slash names the same resource (as the emulator routes it)
    return re.compile("^/" + "/".join(parts) + "/?$")


def _templates() -> list[tuple[str, str, str]]:
    out = []
    for plane, spec in SPECS.items():
        for t, ops in spec["paths"].items():
            for m in ops:
                out.append((plane, m, t))
    for m, t in NEWER:
        out.append(("mgmt", m, t))
    # literal segments first
    return sorted(out, key=lambda x: -sum(1 for s in x[2].split("/") if s and "{" not in s))


TEMPLATES = _templates()
SEEN: set[tuple[str, str, str, int]] = set()


def find_operation(plane: str, method: str, path: str) -> tuple[str, str, str] | None:
    for p, m, t in TEMPLATES:
        if p == plane and m == method.lower() and _regex(t).match(path):
            return p, m, t
    return None


def check_contract(plane: str, method: str, path: str, status: int, body: Any) -> None:
    """Validate one response of the emulator against the specs."""
    op = find_operation(plane, method, path)
    if op is None:
        assert status in (404, 405), (method, path, status)
        assert isinstance(body, dict)
        assert isinstance(body.get("detail"), str)
        return
    SEEN.add((*op, status))
    _, m, t = op
    if (m, t) in NEWER:
        name = NEWER[(m, t)]
        if status == 422:
            schema = {"$ref": "#/components/schemas/HTTPValidationError", **SPECS["mgmt"]}
            jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(body)
        elif 200 <= status < 300 and name is not None:
            jsonschema.Draft7Validator(CUSTOM[name], format_checker=FORMATS).validate(body)
        elif status == 204:
            assert body is None
        else:
            assert isinstance(body, dict), body
            assert "detail" in body, body
        return
    spec = SPECS[plane]
    responses = spec["paths"][t][m]["responses"]
    if str(status) in responses:
        content = responses[str(status)].get("content", {})
        if status == 204 or not content:
            assert body is None or body == {} or status != 204
            return
        ref = content["application/json"]["schema"]
        schema = {**ref, "components": spec["components"]}
        jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(body)
        return
    # undeclared statuses: the FastAPI-style {"detail": ...} envelope
    assert status in (401, 403, 404, 405, 409, 429, 500, 502, 503, 504), (method, path, status)
    assert isinstance(body, dict), body
    assert "detail" in body, body


@dataclass
class Resp:
    status: int
    body: Any
    headers: Mapping[str, str]


class Api:
    """Raw HTTP against the emulator; every response is checked against the contract."""

    def __init__(self, emu: Emulator, http: aiohttp.ClientSession, **creds: str) -> None:
        self.emu = emu
        self.http = http
        self.client_id = creds.get("client_id", emu.client_id)
        self.client_secret = creds.get("client_secret", emu.client_secret)
        self.tsg_id = creds.get("tsg_id", emu.tsg_id)
        self._token: str | None = None

    async def token_request(
        self, client_id: str | None = None, secret: str | None = None, scope: str | None = None
    ) -> Resp:
        cid = client_id if client_id is not None else self.client_id
        sec = secret if secret is not None else self.client_secret
        basic = base64.b64encode(f"{cid}:{sec}".encode()).decode()
        form = {"grant_type": "client_credentials", "scope": scope or f"tsg_id:{self.tsg_id}"}
        async with self.http.post(
            self.emu.token_endpoint, data=form, headers={"Authorization": f"Basic {basic}"}
        ) as r:
            return Resp(r.status, await r.json(), r.headers)

    async def token(self, refresh: bool = False) -> str:
        if self._token is None or refresh:
            r = await self.token_request()
            assert r.status == 200, r.body
            self._token = r.body["access_token"]
        assert self._token is not None
        return self._token

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        raw: bytes | None = None,
        token: str | None = None,
        check: bool = True,
    ) -> Resp:
        plane = "data" if path.startswith("/data") else "mgmt"
        rel = path[len("/data") :] if plane == "data" else path[len("/mgmt") :]
        url = (self.emu.data_endpoint if plane == "data" else self.emu.mgmt_endpoint) + rel
        hdrs = {"Authorization": f"Bearer {token or await self.token()}"}
        kwargs: dict[str, Any] = {"params": params, "headers": hdrs}
        if json_body is not None:
            kwargs["json"] = json_body
        if raw is not None:
            kwargs["data"] = raw
            hdrs["Content-Type"] = "application/json"
        async with self.http.request(method, url, **kwargs) as r:
            text = await r.text()
            body = json.loads(text) if text else None
            resp = Resp(r.status, body, r.headers)
        if check and resp.status != 401:
            check_contract(plane, method, rel, resp.status, resp.body)
        return resp

    # shortcuts
    async def get(self, path: str, **kw: Any) -> Resp:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Resp:
        return await self.call("POST", path, json_body=body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> Resp:
        return await self.call("PUT", path, json_body=body, **kw)

    async def delete(self, path: str, **kw: Any) -> Resp:
        return await self.call("DELETE", path, **kw)

    async def default_group(self, source: str) -> str:
        r = await self.get("/mgmt/v1/security-groups", params={"search_query": f"Default {source}"})
        return next(
            g["uuid"] for g in r.body["security_groups"] if g["name"] == f"Default {source}"
        )

    async def wait_scan(self, uuid_: str, timeout: float = 10.0) -> dict[str, Any]:
        import asyncio

        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            r = await self.get(f"/data/v1/scans/{uuid_}")
            assert r.status == 200
            if r.body["eval_outcome"] != "PENDING":
                return r.body  # type: ignore[no-any-return]
            assert loop.time() < end, "scan did not settle"
            await asyncio.sleep(0.02)


def scan_details(files: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    """A valid ``ScanDetails`` body."""
    files = files if files is not None else [clean_file()]
    d = {
        "scanner_version": "test/1.0",
        "time_started": "2026-05-04T10:00:00Z",
        "files": files,
        "total_files_scanned": sum(1 for f in files if f["modelscan_status"] == "SCANNED"),
        "total_files_skipped": sum(1 for f in files if f["modelscan_status"] == "SKIPPED"),
        "model_formats": sorted({x for f in files for x in f.get("formats") or []}),
        "model_size_bytes": sum(f.get("size_bytes") or 0 for f in files),
        "scan_duration_ms": 5,
    }
    d.update(kw)
    return d


def clean_file(path: str = "model.safetensors", fmt: str = "safetensors") -> dict[str, Any]:
    return {
        "file_path": path,
        "modelscan_status": "SCANNED",
        "blob_id": f"blob-{path}",
        "formats": [fmt],
        "sha256": "a" * 64,
        "size_bytes": 100,
        "issues_detected": [],
    }


def bad_file(path: str = "pytorch_model.bin", threat: str = "PAIT-PKL-100") -> dict[str, Any]:
    return {
        "file_path": path,
        "modelscan_status": "SCANNED",
        "blob_id": f"blob-{path}",
        "formats": ["pickle"],
        "sha256": "b" * 64,
        "size_bytes": 200,
        "issues_detected": [
            {
                "description": "os.system reachable at load",
                "source": path,
                "threat": threat,
                "module": "os",
                "operator": "system",
            }
        ],
    }


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(port=0, settle_delay=0.02, activation_delay=0.2) as e:
        yield e


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def api(emu: Emulator, http: aiohttp.ClientSession) -> Api:
    return Api(emu, http)
