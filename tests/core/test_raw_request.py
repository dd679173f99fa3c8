"""``client.request()``: any call with the client's auth, retries and options, plain JSON back."""

from __future__ import annotations

from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient, NotFoundError, PayloadError
from tests.core import samples as s
from tests.core.conftest import DATA, MGMT, FakeAPI


async def test_get_returns_plain_json_with_repeated_query_keys(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    page = {"pagination": {"total_items": 1}, "scans": [s.scan()], "zz_new": 1}
    fake_api.route("GET", f"{DATA}/v1/scans", payload=page)
    got = await client.request(
        "get",
        "/v1/scans",
        params={"limit": 5, "eval_outcomes": ["BLOCKED", "ERROR"], "search_query": None},
        extra_headers={"X-Trace": "t1"},
    )
    assert got == page  # nothing structured, unknown fields and all
    (call,) = fake_api.calls
    assert call.method == "GET"
    assert call.params == [("limit", "5"), ("eval_outcomes", "BLOCKED"), ("eval_outcomes", "ERROR")]
    assert call.headers["Authorization"] == "Bearer tok-1"
    assert call.headers["X-Trace"] == "t1"


async def test_management_plane_post_with_body_and_empty_answer(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("POST", f"{MGMT}/v1/security-groups", payload=s.group())
    created = await client.request(
        "POST", "/v1/security-groups", plane="mgmt", json={"name": "g", "source_type": "S3"}
    )
    assert created["uuid"] == s.group()["uuid"]
    assert fake_api.calls[0].json == {"name": "g", "source_type": "S3"}
    assert fake_api.calls[0].headers["Content-Type"] == "application/json"
    fake_api.route("DELETE", f"{MGMT}/v1/security-groups/{s.U1}", status=204, body="")
    assert await client.request("DELETE", f"/v1/security-groups/{s.U1}", plane="mgmt") is None


async def test_errors_and_retries_are_the_typed_methods(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    url = f"{DATA}/v1/scans/{s.U1}"
    fake_api.route("GET", url, status=503, payload={"message": "busy"})
    fake_api.route("GET", url, payload=s.scan())
    assert (await client.request("GET", f"/v1/scans/{s.U1}"))["uuid"] == s.scan()["uuid"]
    assert len(fake_api.calls) == 2  # a GET is retried after a 503
    fake_api.route("GET", f"{DATA}/v1/scans/{s.U2}", status=404, payload={"message": "no scan"})
    with pytest.raises(NotFoundError, match="no scan"):
        await client.request("GET", f"/v1/scans/{s.U2}")


async def test_a_post_is_not_resent_after_a_server_error(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("POST", f"{DATA}/v1/scans", status=500, payload={"message": "boom"})
    with pytest.raises(Exception, match="boom"):
        await client.request("POST", "/v1/scans", json={"model_uri": "hf://a/b"})
    assert len(fake_api.calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "FETCH", "path": "/v1/scans"}, "method must be one of"),
        ({"method": 3, "path": "/v1/scans"}, "method must be one of"),
        ({"method": "GET", "path": "v1/scans"}, "starting with '/'"),
        ({"method": "GET", "path": "https://evil.test/v1"}, "starting with '/'"),
        ({"method": "GET", "path": "//evil.test/v1"}, "starting with '/'"),
        ({"method": "GET", "path": "/v1/scans?limit=5"}, "params="),
        ({"method": "GET", "path": "/v1/scans#x"}, "'#'"),
        ({"method": "GET", "path": "/v1/scans/a b"}, "spaces"),
        ({"method": "GET", "path": "/v1/scans\r\nX-Evil: 1"}, "control characters"),
        ({"method": "GET", "path": "/v1/../../oauth2"}, "'..' segments"),
        ({"method": "GET", "path": "/v1/%2e%2e/oauth2"}, "'..' segments"),
        ({"method": "GET", "path": "/v1/scans", "plane": "admin"}, "plane must be"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    client: AsyncModelSecurityClient, fake_api: FakeAPI, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(PayloadError, match=message):
        await client.request(**kwargs)
    assert fake_api.calls == [] and fake_api.token_calls == []
