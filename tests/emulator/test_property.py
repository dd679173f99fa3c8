"""Bounded property run over every operation: requests built from the spec's parameters and
bodies (valid, near-valid and hostile values) never get a 5xx and every answer matches its
schema. The token endpoint is fuzzed the same way."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsec.emulator import EmulatorThread
from modelsec.emulator.spec import Route, load_routes
from tests.emulator.conftest import check_contract, scan_details

ROUTES = load_routes().routes
POOL: list[str] = []

# Any text a client can send: controls, newlines, non-ASCII, lone surrogates excluded (they
# cannot be encoded on the wire).
HOSTILE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)


def _strategy(route: Route, schema: Mapping[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    v = route.validator
    schema = v.resolve(schema)
    garbage = st.one_of(
        st.none(), st.integers(-(2**70), 2**70), HOSTILE_TEXT, st.booleans(), st.floats()
    )
    if depth > 4:
        return garbage
    # mostly values of the schema's shape, sometimes anything at all
    return st.one_of(_valid(route, schema, depth), garbage)


def _valid(route: Route, schema: Mapping[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "anyOf" in schema:
        return st.one_of([_strategy(route, b, depth + 1) for b in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    t = schema.get("type")
    if isinstance(t, list):
        return st.one_of([_strategy(route, {**schema, "type": x}, depth + 1) for x in t])
    if t == "null":
        return st.none()
    if t == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return st.one_of(st.sampled_from(POOL or [str(uuid.uuid4())]), st.uuids().map(str))
        if fmt == "date-time":
            return st.sampled_from(["2026-01-01T00:00:00Z", "2999-01-01T00:00:00+00:00", "nope"])
        if schema.get("pattern"):
            return st.from_regex(r"[a-zA-Z0-9_-]{1,8}", fullmatch=True)
        lo = schema.get("minLength", 0)
        hi = min(schema.get("maxLength", 12), lo + 12)
        return st.text(
            st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=lo, max_size=hi
        )
    if t == "integer":
        lo = schema.get("minimum", -3)
        hi = schema.get("maximum", 30)
        return st.integers(lo - 1, min(hi + 1, lo + 120))
    if t == "boolean":
        return st.booleans()
    if t == "array":
        mx = min(schema.get("maxItems", 3), 3)
        return st.lists(_strategy(route, schema.get("items", {}), depth + 1), max_size=mx)
    if t == "object" or "properties" in schema:
        props = schema.get("properties", {})
        req = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: _strategy(route, s, depth + 1) for k, s in props.items() if k in req},
            optional={k: _strategy(route, s, depth + 1) for k, s in props.items() if k not in req},
        )
    return st.nothing()


def _query_value(item: Any) -> str:
    return str(item).lower() if isinstance(item, bool) else str(item)


@st.composite
def requests(draw: st.DrawFn, route: Route) -> tuple[str, list[tuple[str, str]], Any]:
    path = route.template
    query: list[tuple[str, str]] = []
    for p in route.parameters:
        value = draw(_strategy(route, p.get("schema", {})))
        if p["in"] == "path":
            if value is None:
                value = draw(st.sampled_from(POOL))
            path = path.replace("{" + p["name"] + "}", urllib.parse.quote(str(value), safe=""))
        elif value is not None and draw(st.booleans()):
            for item in value if isinstance(value, list) else [value]:
                query.append((p["name"], _query_value(item)))
    if draw(st.integers(0, 9)) == 0:  # a parameter the operation does not have
        query.append((draw(HOSTILE_TEXT), draw(HOSTILE_TEXT)))
    body = None
    if route.body_schema is not None:
        body = draw(
            st.one_of(
                _strategy(route, route.body_schema),
                st.just({}),
                st.integers(),
                st.recursive(st.none(), lambda c: st.lists(c, max_size=2), max_leaves=4),
            )
        )
    return path, query, body


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[EmulatorThread, str]]:
    with EmulatorThread(port=0, settle_delay=0.0, activation_delay=0.0) as emu:
        form = f"grant_type=client_credentials&scope=tsg_id:{emu.tsg_id}".encode()
        req = urllib.request.Request(
            emu.token_endpoint,
            data=form,
            headers={"Authorization": "Basic bW9kZWxzZWMtZGVtbzptb2RlbHNlYy1kZW1vLXNlY3JldA=="},
        )
        with urllib.request.urlopen(req) as r:
            token = json.load(r)["access_token"]
        # seed the pool with real ids
        _, group = _call(emu, token, "mgmt", "GET", "/v1/security-groups", [], None)
        gid = group["security_groups"][0]["uuid"]
        _status, scan = _call(
            emu,
            token,
            "data",
            "POST",
            "/v1/scans",
            [],
            {
                "model_uri": "/m",
                "security_group_uuid": gid,
                "scan_details": scan_details(),
                "labels": [{"key": "team", "value": "ml"}],
            },
        )
        POOL.extend([gid, scan["uuid"]])
        yield emu, token


def _call(
    emu: EmulatorThread,
    token: str,
    plane: str,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    body: Any,
) -> tuple[int, Any]:
    base = emu.data_endpoint if plane == "data" else emu.mgmt_endpoint
    url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method.upper(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        text = e.read()
        status = e.code
    return status, json.loads(text) if text else None


FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.plane}-{r.operation_id}" for r in ROUTES])
@FUZZ
@given(data=st.data())
def test_every_operation_without_5xx(
    live: tuple[EmulatorThread, str], route: Route, data: st.DataObject
) -> None:
    emu, token = live
    path, query, body = data.draw(requests(route))
    status, payload = _call(emu, token, route.plane, route.method, path, query, body)
    assert status < 500, (route.method, path, query, body, payload)
    check_contract(route.plane, route.method, path, status, payload)


@FUZZ
@given(
    client_id=HOSTILE_TEXT,
    secret=HOSTILE_TEXT,
    grant=st.one_of(st.just("client_credentials"), HOSTILE_TEXT),
    scope=st.one_of(st.just("tsg_id:1234567890"), HOSTILE_TEXT),
    basic=st.booleans(),
)
def test_token_endpoint_without_5xx(
    live: tuple[EmulatorThread, str],
    client_id: str,
    secret: str,
    grant: str,
    scope: str,
    basic: bool,
) -> None:
    emu, _ = live
    form: dict[str, str] = {"grant_type": grant, "scope": scope}
    headers = {}
    if basic:
        raw = f"{client_id}:{secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    else:
        form.update(client_id=client_id, client_secret=secret)
    req = urllib.request.Request(
        emu.token_endpoint, data=urllib.parse.urlencode(form).encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body = r.status, json.load(r)
    except urllib.error.HTTPError as e:
        status, body = e.code, json.loads(e.read())
    assert status in (200, 400, 401), (status, body)
    assert status != 200 or secret == "modelsec-demo-secret"
