"""Inputs that once gave 500s get 4xx: deep JSON, non-ASCII secrets, negative cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from modelsec.emulator import Emulator
from tests.emulator.conftest import Api


async def _raw(api: Api, method: str, path: str, raw: bytes) -> tuple[int, str]:
    base = api.emu.data_endpoint if path.startswith("/data") else api.emu.mgmt_endpoint
    headers = {"Authorization": f"Bearer {await api.token()}", "Content-Type": "application/json"}
    async with api.http.request(method, base + path[5:], data=raw, headers=headers) as r:
        return r.status, await r.text()


def _condition(levels: int) -> dict[str, Any]:
    leaf = {"type": "label", "key": "k", "operator": "exists"}
    c: dict[str, Any] = dict(leaf)
    for _ in range(levels):
        c = {"operator": "and", "conditions": [c, dict(leaf)]}
    return c


def _deep(levels: int) -> bytes:
    # json.dumps itself recurses: build the text by hand.
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("levels", [1_000, 100_000])
async def test_deeply_nested_json_is_422(api: Api, levels: int) -> None:
    for method, path in (("POST", "/data/v1/scans"), ("POST", "/mgmt/v1/custom-rules")):
        status, text = await _raw(api, method, path, _deep(levels))
        assert status == 422, text[:200]
        detail = json.loads(text)["detail"]
        assert detail[0]["type"] == "json_invalid"
        assert detail[0]["loc"][0] == "body"
    # and in a place the schema allows nesting (custom-rule conditions)
    body = {"name": "deep", "compatible_sources": ["ALL"], "violation_message": "v"}
    text_body = json.dumps(body)[:-1] + ', "condition": ' + "[" * levels + "]" * levels + "}"
    status, text = await _raw(api, "POST", "/mgmt/v1/custom-rules", text_body.encode())
    assert status == 422, text[:200]


async def test_nesting_within_the_limit_still_works(api: Api) -> None:
    body = {
        "name": "nested",
        "compatible_sources": ["ALL"],
        "violation_message": "v",
        "condition": _condition(90),
    }
    assert (await api.post("/mgmt/v1/custom-rules", body)).status == 201
    body["name"] = "too-deep"
    body["condition"] = _condition(300)
    r = await api.post("/mgmt/v1/custom-rules", body, check=False)
    assert r.status == 422
    assert r.body["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("secret", ["sécret", "пароль", "秘密", "\udcff"])
async def test_non_ascii_client_secret_is_401(
    api: Api, http: aiohttp.ClientSession, emu: Emulator, secret: str
) -> None:
    raw = f"{emu.client_id}:{secret}".encode(errors="surrogateescape")
    basic = base64.b64encode(raw).decode()
    form = {"grant_type": "client_credentials", "scope": f"tsg_id:{emu.tsg_id}"}
    async with http.post(
        emu.token_endpoint, data=form, headers={"Authorization": f"Basic {basic}"}
    ) as r:
        assert r.status == 401, await r.text()
        assert (await r.json())["error"] == "invalid_client"
    if secret.isprintable():
        form = {**form, "client_id": emu.client_id, "client_secret": secret}
        async with http.post(emu.token_endpoint, data=form) as r:
            assert r.status == 401, await r.text()


async def test_non_ascii_configured_secret_authenticates(http: aiohttp.ClientSession) -> None:
    async with Emulator(port=0, client_secret="pässwörd-秘密") as emu:
        assert (await Api(emu, http).token_request()).status == 200
        assert (await Api(emu, http).token_request(secret="passwort")).status == 401


@pytest.mark.parametrize("offset", ["-1", "-100", " 1", "١", "1_0", "+1", ""])
@pytest.mark.parametrize(
    "path",
    ["/mgmt/v1/custom-rules/versions", "/mgmt/v1/security-rules/versions"],
)
async def test_bad_next_token_is_422(api: Api, path: str, offset: str) -> None:
    token = base64.urlsafe_b64encode(offset.encode()).decode() or "="
    r = await api.get(path, params={"next_token": token})
    assert r.status == 422, r.body
    assert r.body["detail"][0]["loc"] == ["query", "next_token"]


async def test_valid_next_token_pages(api: Api) -> None:
    path = "/mgmt/v1/security-rules/versions"
    zero = base64.urlsafe_b64encode(b"0").decode()
    assert len((await api.get(path, params={"next_token": zero})).body["versions"]) == 1
    far = base64.urlsafe_b64encode(b"5").decode()
    assert (await api.get(path, params={"next_token": far})).body["versions"] == []
