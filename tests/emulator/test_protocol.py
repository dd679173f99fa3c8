"""HTTP protocol details: 405 with ``Allow``, query strings as long as the specs allow, odd
bytes in path segments answered like any other bad identifier."""

from __future__ import annotations

import json
import urllib.parse
from collections import defaultdict

import aiohttp
import pytest
from yarl import URL

from modelsec.emulator import Emulator
from tests.emulator.conftest import NEWER, SPECS, Api, _regex

# Independent of the emulator's route table: the methods of each path, read from the specs.
METHODS: dict[tuple[str, str], set[str]] = defaultdict(set)
for _plane, _spec in SPECS.items():
    for _t, _ops in _spec["paths"].items():
        METHODS[(_plane, _t)] |= {m.upper() for m in _ops if m != "parameters"}
for _m, _t in NEWER:
    METHODS[("mgmt", _t.replace("{sg}", "{security_group_uuid}"))].add(_m.upper())

ID = "6f1ed002-ab5d-42b9-a6f6-05ffa0a2b4a1"
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def _concrete(template: str, value: str = ID) -> str:
    out = []
    for seg in template.split("/"):
        out.append(value if seg.startswith("{") else seg)
    return "/".join(out)


def _allow(header: str) -> set[str]:
    return {m.strip() for m in header.split(",") if m.strip()}


def _answering(plane: str, path: str) -> set[str]:
    """Methods of every spec path the concrete path matches (``/v1/custom-rules/versions``
    is also ``/v1/custom-rules/{uuid}``: its PUT is routed there and answered 422, not 405)."""
    out: set[str] = set()
    for (p, t), methods in METHODS.items():
        if p == plane and _regex(t).match(path):
            out |= methods
    return out


@pytest.mark.parametrize(("plane", "template"), sorted(METHODS))
async def test_405_lists_the_allowed_methods(api: Api, plane: str, template: str) -> None:
    base = api.emu.data_endpoint if plane == "data" else api.emu.mgmt_endpoint
    hdrs = {"Authorization": f"Bearer {await api.token()}"}
    # a label key is not a UUID; any valid key does for routing
    path = _concrete(template).replace("label-keys/" + ID, "label-keys/team")
    allowed = _answering(plane, path)
    assert METHODS[(plane, template)] <= allowed
    for method in ALL_METHODS:
        if method in allowed:
            continue
        async with api.http.request(method, base + path, headers=hdrs) as r:
            assert r.status == 405, (method, path)
            assert _allow(r.headers.get("Allow", "")) == allowed, (method, path)
            assert (await r.json())["detail"] == "Method Not Allowed"


async def test_token_endpoint_405_allows_post(api: Api) -> None:
    async with api.http.get(api.emu.token_endpoint) as r:
        assert r.status == 405
        assert _allow(r.headers["Allow"]) == {"POST"}


async def test_longest_search_query_is_accepted(api: Api) -> None:
    # 1,000 characters (the spec's maxLength) of 4-byte UTF-8: 12,000 bytes percent-encoded.
    for ch in ("€", "😀"):
        q = ch * 1000
        assert len(urllib.parse.quote(q)) >= 9000
        for path in ("/mgmt/v1/security-groups", "/mgmt/v1/security-rules"):
            r = await api.get(path, params={"search_query": q})
            assert r.status == 200, (path, r.status, r.body)
        r = await api.get("/mgmt/v1/security-groups", params={"search_query": q + ch})
        assert (
            r.status == 422
        )  # one over the limit: the JSON validation error, not the server's 400


def _labels_query(n: int) -> str:
    term = "(team:ml OR env:prod)"
    q = term
    while len(q) + len(" AND " + term) <= n:
        q += " AND " + term
    return q + " AND " + "k" * (n - len(q) - len(" AND :*")) + ":*"


async def test_longest_labels_query_is_accepted(api: Api) -> None:
    q = _labels_query(4096)
    assert len(q) == 4096
    hdrs = {"Authorization": f"Bearer {await api.token()}"}
    for extra, status in (("", 200), (" ", 422)):
        # every character a client may percent-encode, encoded: ~10 KB
        query = urllib.parse.urlencode(
            {"labels_query": q + extra, "search_query": "😀" * 256, "limit": 100},
            quote_via=urllib.parse.quote,
            safe="",
        )
        assert len(query) > 9000
        url = URL(f"{api.emu.data_endpoint}/v1/scans?{query}", encoded=True)
        async with api.http.get(url, headers=hdrs) as r:
            assert r.status == status, await r.text()
            assert "detail" in await r.json() or status == 200


ODD_SEGMENTS = ["%0A", "a%0Ab", "%0D%0A", "%00", "%09", "%FF", "%C3%28", "%E2%80%A8", "%20"]


@pytest.mark.parametrize("segment", ODD_SEGMENTS)
async def test_odd_bytes_in_a_path_segment_are_422_or_401(
    emu: Emulator, http: aiohttp.ClientSession, segment: str
) -> None:
    api = Api(emu, http)
    hdrs = {"Authorization": f"Bearer {await api.token()}"}
    for plane, template in sorted(METHODS):
        if "{" not in template:
            continue
        base = emu.data_endpoint if plane == "data" else emu.mgmt_endpoint
        url = URL(base + _concrete(template, segment), encoded=True)
        method = sorted(METHODS[(plane, template)])[0]
        async with http.request(method, url, headers=hdrs) as r:
            text = await r.text()
            assert r.status == 422, (method, url, r.status, text)
            detail = json.loads(text)["detail"]
            assert detail[0]["loc"][0] in ("path", "body", "query"), detail
        async with http.request(method, url) as r:
            assert r.status == 401, (method, url, r.status)
            assert "detail" in await r.json()
