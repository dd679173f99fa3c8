"""Issues 13/14: a closed client's typed error, plain http only to literal loopback, and
credentials read with a trailing newline."""

from __future__ import annotations

import base64
import logging

import pytest

import modelsec
import modelsec.errors
from modelsec import AISecSDKException, AsyncModelSecurityClient, PayloadError
from modelsec.config import ClientConfig
from modelsec.core.transport import is_loopback_url
from tests.core import samples as s
from tests.core.conftest import DATA, MGMT, TOKEN_URL, FakeAPI

SCAN_URL = f"{DATA}/v1/scans/{s.U1}"
CREDS = {"client_id": "cid", "client_secret": "sup3r-s3cret-value", "tsg_id": "1234567890"}


async def test_use_after_close_raises_the_sdk_error(fake_api: FakeAPI) -> None:
    assert modelsec.ClientClosedError is modelsec.errors.ClientClosedError
    assert (
        "ClientClosedError" in modelsec.__all__ and "ClientClosedError" in modelsec.errors.__all__
    )
    client = AsyncModelSecurityClient(
        **CREDS, data_endpoint=DATA, mgmt_endpoint=MGMT, token_endpoint=TOKEN_URL
    )
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    await client.close()
    with pytest.raises(modelsec.ClientClosedError) as info:
        await client.scans.get(s.U1)
    assert isinstance(info.value, AISecSDKException)
    assert info.value.error_type is modelsec.ErrorType.CLIENT_SIDE_ERROR
    assert "closed" in str(info.value)
    # Never used before close(): the same error, not a session created on a closed client.
    unused = AsyncModelSecurityClient(
        **CREDS, data_endpoint=DATA, mgmt_endpoint=MGMT, token_endpoint=TOKEN_URL
    )
    await unused.close()
    with pytest.raises(modelsec.ClientClosedError):
        await unused.request("GET", "/v1/scans")


@pytest.mark.parametrize(
    "host",
    [
        "x.localhost",
        "api.localhost",
        "localhost.",
        "localhost.example.com",
        "127.0.0.1.nip.io",
        "[::ffff:8.8.8.8]",
        "0.0.0.0",
        "10.0.0.1",
    ],
)
def test_plain_http_refused_to_names_that_merely_look_local(host: str) -> None:
    assert not is_loopback_url(f"http://{host}:8765/aims/data")
    with pytest.raises(PayloadError, match="plain http"):
        AsyncModelSecurityClient(
            **CREDS,
            data_endpoint=f"http://{host}:8765/aims/data",
            mgmt_endpoint="https://api.test/aims/mgmt",
            token_endpoint="https://auth.test/token",
        )


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.9.8.7", "[::1]"])
def test_plain_http_allowed_to_literal_loopback(host: str) -> None:
    assert is_loopback_url(f"http://{host}:8765/x")
    AsyncModelSecurityClient(
        **CREDS,
        data_endpoint=f"http://{host}:8765/aims/data",
        mgmt_endpoint=f"http://{host}:8765/aims/mgmt",
        token_endpoint=f"http://{host}:8765/oauth2/access_token",
    )


async def test_secret_with_a_trailing_newline_is_stripped_and_said_at_debug(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelsec")
    async with AsyncModelSecurityClient(
        client_id="cid \n",
        client_secret="sup3r-s3cret-value\n",
        tsg_id="1234567890",
        data_endpoint=DATA,
        mgmt_endpoint=MGMT,
        token_endpoint=TOKEN_URL,
    ) as client:
        fake_api.route("GET", SCAN_URL, payload=s.scan())
        await client.scans.get(s.U1)
    assert client.config.client_secret == "sup3r-s3cret-value"
    assert client.config.client_id == "cid"
    sent = fake_api.token_calls[0]["headers"]["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"cid:sup3r-s3cret-value").decode()
    notes = [r.getMessage() for r in caplog.records if "whitespace" in r.getMessage()]
    assert any("client_secret" in n and "stripped" in n for n in notes), notes
    assert any("client_id" in n for n in notes), notes
    assert all("sup3r" not in n for n in notes)


def test_secret_from_the_environment_is_stripped_naming_the_variable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelsec")
    env = {
        "PANW_MODEL_SEC_CLIENT_ID": "cid",
        "PANW_MGMT_CLIENT_SECRET": "file-secret-value\r\n",
        "TSG_ID": " 1234567890\n",
    }
    cfg = ClientConfig.from_env(env=env)
    assert (cfg.client_secret, cfg.tsg_id) == ("file-secret-value", "1234567890")
    assert "PANW_MGMT_CLIENT_SECRET" in caplog.text
    assert "file-secret-value" not in caplog.text


def test_secret_of_only_whitespace_is_missing() -> None:
    with pytest.raises(modelsec.MissingVariableError):
        ClientConfig.from_env(client_id="cid", client_secret="\n", tsg_id="1", env={})
