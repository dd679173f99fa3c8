"""Issue 13: secrets a server echoes back never reach an error, a log line or a repr.

The client knows its secret and the tokens it has held, so it scrubs them by value wherever
they appear (not only under secret-looking key names). Credentials in endpoint URLs are refused
with a typed error that does not repeat them; proxy credentials are used and never shown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest
from aioresponses import CallbackResult

from modelsec import (
    APIConnectionError,
    AsyncModelSecurityClient,
    AuthenticationError,
    InternalServerError,
    OAuthError,
    PayloadError,
    UnprocessableEntityError,
)
from modelsec.config import ClientConfig
from modelsec.core.redact import Secrets
from tests.core import samples as s
from tests.core.conftest import DATA, SECRET, TOKEN_URL, ClientFactory, FakeAPI
from tests.core.loopback import RawServer, Request, send_json, send_token

SCAN_URL = f"{DATA}/v1/scans/{s.U1}"
TOKEN_A = "eyJhbGciOi.tokenA-0123456789abcdef"
TOKEN_B = "eyJhbGciOi.tokenB-fedcba9876543210"
BASIC = base64.b64encode(f"cid:{SECRET}".encode()).decode()


def leaked(needles: list[str], exc: BaseException, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every place (message, repr, body, detail, args, log records) where a needle shows."""
    places: dict[str, str] = {
        "str": str(exc),
        "repr": repr(exc),
        "args": repr(exc.args),
        "body": repr(getattr(exc, "body", None)),
        "body-json": json.dumps(getattr(exc, "body", None), default=str),
        "detail": repr(getattr(exc, "detail", None)),
        "message": str(getattr(exc, "message", "")),
        "log": caplog.text,
        "records": repr([(r.getMessage(), r.args) for r in caplog.records]),
    }
    return [f"{n!r} in {where}" for where, text in places.items() for n in needles if n in text]


async def test_token_endpoint_echoing_the_secret_in_a_400(
    client: AsyncModelSecurityClient, fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelsec")
    fake_api.mock._matches.clear()  # replace the fixture's token route
    fake_api.token(
        status=400,
        payload={
            "error": "invalid_client",
            "error_description": f"client cid with secret {SECRET} (Basic {BASIC}) is unknown",
            "echo": {SECRET: [f"Authorization: Basic {BASIC}"]},
        },
    )
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    with pytest.raises(OAuthError) as info:
        await client.scans.get(s.U1)
    assert "invalid_client" in str(info.value) and "is unknown" in str(info.value)
    assert leaked([SECRET, BASIC], info.value, caplog) == []


async def test_token_endpoint_5xx_echoing_the_secret(
    client_factory: ClientFactory, fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelsec")
    client = client_factory(max_retries=1)
    fake_api.mock._matches.clear()
    fake_api.token(status=503, payload={"message": f"backend rejected {SECRET}"})
    with pytest.raises(OAuthError) as info:
        await client.scans.get(s.U1)
    assert info.value.status_code == 503
    assert leaked([SECRET], info.value, caplog) == []


async def test_api_error_echoing_current_and_previous_tokens(
    client: AsyncModelSecurityClient, fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 replays with a new token; the final error echoes both, in JSON and as text."""
    caplog.set_level(logging.DEBUG, logger="modelsec")
    fake_api.token_value = TOKEN_A
    seen: list[str] = []

    def answer(url: Any, **kwargs: Any) -> CallbackResult:
        seen.append(kwargs["headers"]["Authorization"])
        fake_api.token_value = TOKEN_B  # the next token fetched is another one
        echoed = [h.split(" ", 1)[1] for h in seen]  # every token this server has seen
        return CallbackResult(
            status=401,
            payload={
                "detail": f"token {echoed[-1]} revoked; Authorization: {seen[-1]}",
                "message": f"seen tokens: {', '.join(echoed)}",
                "tokens": [echoed, {"again": echoed[0]}],
            },
        )

    fake_api.mock.get(SCAN_URL, callback=answer, repeat=True)
    with pytest.raises(AuthenticationError) as info:
        await client.scans.get(s.U1)
    # A refused, replayed with a fresh B, B refused too: the error echoes both.
    assert seen == [f"Bearer {TOKEN_A}", f"Bearer {TOKEN_B}", f"Bearer {TOKEN_B}"]
    assert str(info.value).count("***") >= 2
    assert "revoked" in str(info.value)
    assert "<- 401" in caplog.text  # the DEBUG body line was written, scrubbed
    assert leaked([TOKEN_A, TOKEN_B, SECRET], info.value, caplog) == []


async def test_html_error_page_echoing_the_bearer_token(
    client_factory: ClientFactory, fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelsec")
    client = client_factory(max_retries=0)
    fake_api.token_value = TOKEN_A
    page = (
        "<html><body><h1>502 Bad Gateway</h1><pre>GET /v1/scans HTTP/1.1\n"
        f"Authorization: Bearer {TOKEN_A}\nX-Client-Secret: {SECRET}</pre>"
        + "padding " * 200  # the secret must go before the message is trimmed
        + "</body></html>"
    )
    fake_api.route("GET", SCAN_URL, status=502, body=page)
    with pytest.raises(InternalServerError) as info:
        await client.scans.get(s.U1)
    assert "502 Bad Gateway" in str(info.value)
    assert leaked([TOKEN_A, SECRET], info.value, caplog) == []


async def test_422_detail_echoing_the_token(
    client: AsyncModelSecurityClient, fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelsec")
    fake_api.token_value = TOKEN_A
    fake_api.route(
        "GET",
        SCAN_URL,
        status=422,
        payload={
            "detail": [
                {"loc": ["header", "authorization"], "msg": f"bad {TOKEN_A}", "type": "x"},
            ]
        },
    )
    with pytest.raises(UnprocessableEntityError) as info:
        await client.scans.get(s.U1)
    assert info.value.detail and info.value.detail[0].msg == "bad ***"
    assert leaked([TOKEN_A], info.value, caplog) == []


def test_secrets_scrub_every_encoding_and_keep_a_bounded_token_history() -> None:
    secrets = Secrets([SECRET])
    for i in range(20):
        secrets.add_token(f"token-number-{i:02d}")
    text = f"{SECRET} {SECRET.replace('-', '%2D')} token-number-19 token-number-12"
    assert secrets.scrub(text) == f"*** {SECRET.replace('-', '%2D')} *** ***"
    assert secrets.scrub("token-number-00") == "token-number-00"  # forgotten: bounded
    assert secrets.scrub(f'{{"v": "{json.dumps("a/b" + SECRET)[1:-1]}"}}').count("***") == 1
    encoded = Secrets(["p@ss w/rd+x"])
    assert encoded.scrub("p%40ss%20w%2Frd%2Bx and p%40ss+w%2Frd%2Bx") == "*** and ***"


# -- credentials in URLs -----------------------------------------------------------------


@pytest.mark.parametrize("setting", ["data_endpoint", "mgmt_endpoint", "token_endpoint"])
def test_endpoint_with_credentials_is_refused_without_echo(setting: str) -> None:
    url = "https://alice:hunter2-pass@api.test/aims/x"
    with pytest.raises(PayloadError) as info:
        AsyncModelSecurityClient(
            client_id="cid", client_secret=SECRET, tsg_id="1", **{setting: url}
        )
    assert setting in str(info.value) and "credentials" in str(info.value)
    assert "hunter2-pass" not in str(info.value) and "hunter2-pass" not in repr(info.value)
    with pytest.raises(PayloadError):
        ClientConfig(client_id="cid", client_secret=SECRET, tsg_id="1", **{setting: url})


def test_root_endpoint_env_with_credentials_is_refused() -> None:
    env = {"MODEL_SECURITY_API_ENDPOINT": "https://bob:s3cr3t-pw@api.test/aims"}
    with pytest.raises(PayloadError) as info:
        ClientConfig.from_env(client_id="cid", client_secret=SECRET, tsg_id="1", env=env)
    assert "s3cr3t-pw" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["https://[::1/aims/data", "https://api.test:99999/aims/data", "https:///aims"]
)
def test_malformed_endpoint_is_a_payload_error(url: str) -> None:
    with pytest.raises(PayloadError):
        ClientConfig.from_env(client_id="cid", client_secret=SECRET, tsg_id="1", data_endpoint=url)


async def test_reprs_hold_no_secret(client: AsyncModelSecurityClient, fake_api: FakeAPI) -> None:
    fake_api.token_value = TOKEN_A
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    copy = client.with_options(extra_headers={"Authorization": f"Bearer {TOKEN_B}"})
    for text in (
        repr(client),
        repr(client.config),
        repr(client._transport.tokens),
        repr(client._transport.secrets),
        repr(copy._options),
        repr(client.token_info()),
    ):
        assert SECRET not in text and TOKEN_A not in text and TOKEN_B not in text, text


async def test_proxy_credentials_are_used_but_never_shown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """HTTP_PROXY with user:password: the proxy gets them; no error or log line shows them."""
    caplog.set_level(logging.DEBUG, logger="modelsec")
    password = "proxy-pass-7731"
    proxy_basic = base64.b64encode(f"puser:{password}".encode()).decode()

    async def proxy(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path.endswith("/oauth2/access_token"):
            await send_token(writer, TOKEN_A)
            return
        await send_json(
            writer,
            401,
            {"detail": f"proxy saw {request.headers}", "pw": password, "pb": proxy_basic},
        )

    async with RawServer(proxy) as srv:
        for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://puser:{password}@127.0.0.1:{srv.port}")
        # Nothing listens at the target: the answers can only have come through the proxy.
        target = "http://127.0.0.1:9"
        async with AsyncModelSecurityClient(
            client_id="cid",
            client_secret=SECRET,
            tsg_id="1",
            data_endpoint=f"{target}/aims/data",
            mgmt_endpoint=f"{target}/aims/mgmt",
            token_endpoint=f"{target}/oauth2/access_token",
            max_retries=0,
        ) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.scans.get(s.U1)
            client_repr = repr(client) + repr(client.config)
    sent = {r.headers.get("proxy-authorization") for r in srv.requests}
    assert sent == {f"Basic {proxy_basic}"}  # the proxy credentials were used
    assert "proxy saw" in str(info.value)
    assert "go through proxy http://***@127.0.0.1" in caplog.text
    assert leaked([password, proxy_basic, TOKEN_A, SECRET], info.value, caplog) == []
    assert password not in client_repr


async def test_unreachable_proxy_error_names_it_without_credentials(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelsec")
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://puser:proxy-pass-7731@127.0.0.1:9")
    async with AsyncModelSecurityClient(
        client_id="cid",
        client_secret=SECRET,
        tsg_id="1",
        data_endpoint="http://127.0.0.1:9/aims/data",
        mgmt_endpoint="http://127.0.0.1:9/aims/mgmt",
        token_endpoint="http://127.0.0.1:9/oauth2/access_token",
        max_retries=0,
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.scans.get(s.U1)
    assert "http://127.0.0.1:9/oauth2/access_token" in str(info.value)
    assert leaked(["proxy-pass-7731", "puser"], info.value, caplog) == []


def test_token_url_constant_is_https() -> None:
    # The fixtures' endpoints are https: the by-value scrubbing above is not an http artefact.
    assert TOKEN_URL.startswith("https://") and DATA.startswith("https://")
