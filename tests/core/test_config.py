"""Configuration precedence, defaults, and secrets kept out of reprs."""

from __future__ import annotations

import pytest

from modelsec import AsyncModelSecurityClient, MissingVariableError, PayloadError
from modelsec.config import (
    DEFAULT_DATA_ENDPOINT,
    DEFAULT_MGMT_ENDPOINT,
    DEFAULT_TOKEN_ENDPOINT,
    ClientConfig,
)
from modelsec.errors import ErrorType

FULL = {"client_id": "a", "client_secret": "b", "tsg_id": "c"}


def test_defaults() -> None:
    cfg = ClientConfig.from_env(env={}, **FULL)
    assert cfg.data_endpoint == DEFAULT_DATA_ENDPOINT
    assert cfg.mgmt_endpoint == DEFAULT_MGMT_ENDPOINT
    assert (
        cfg.token_endpoint
        == DEFAULT_TOKEN_ENDPOINT
        == "https://auth.apps.paloaltonetworks.com/oauth2/access_token"
    )
    assert cfg.max_retries == 2


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {
                "PANW_MODEL_SEC_CLIENT_ID": "ms",
                "PANW_MGMT_CLIENT_ID": "mg",
                "MODEL_SECURITY_CLIENT_ID": "v",
            },
            "ms",
        ),
        ({"PANW_MGMT_CLIENT_ID": "mg", "MODEL_SECURITY_CLIENT_ID": "v"}, "mg"),
        ({"MODEL_SECURITY_CLIENT_ID": "v"}, "v"),
    ],
)
def test_client_id_precedence(env: dict[str, str], expected: str) -> None:
    cfg = ClientConfig.from_env(client_secret="s", tsg_id="t", env=env)
    assert cfg.client_id == expected
    assert (
        ClientConfig.from_env(client_id="arg", client_secret="s", tsg_id="t", env=env).client_id
        == "arg"
    )


def test_every_family_is_read() -> None:
    env = {
        "PANW_MGMT_CLIENT_SECRET": "sec",
        "TSG_ID": "999",
        "PANW_MGMT_TOKEN_ENDPOINT": "https://auth.example/token",
        "PANW_MODEL_SEC_DATA_ENDPOINT": "https://eu.example/aims/data/",
        "MODEL_SECURITY_CLIENT_ID": "vendor-id",
    }
    cfg = ClientConfig.from_env(env=env)
    assert (cfg.client_id, cfg.client_secret, cfg.tsg_id) == ("vendor-id", "sec", "999")
    assert cfg.token_endpoint == "https://auth.example/token"
    assert cfg.data_endpoint == "https://eu.example/aims/data"
    assert cfg.mgmt_endpoint == DEFAULT_MGMT_ENDPOINT


def test_vendor_root_endpoint_gives_both_planes() -> None:
    env = {
        **{f"PANW_MODEL_SEC_{k.upper()}": v for k, v in FULL.items()},
        "MODEL_SECURITY_API_ENDPOINT": "https://x.example/aims/",
    }
    cfg = ClientConfig.from_env(env=env)
    assert cfg.data_endpoint == "https://x.example/aims/data"
    assert cfg.mgmt_endpoint == "https://x.example/aims/mgmt"
    env["PANW_MODEL_SEC_MGMT_ENDPOINT"] = "https://m.example/aims/mgmt"
    assert ClientConfig.from_env(env=env).mgmt_endpoint == "https://m.example/aims/mgmt"


@pytest.mark.parametrize("missing", ["client_id", "client_secret", "tsg_id"])
def test_missing_variable_names_every_candidate(missing: str) -> None:
    args = {k: v for k, v in FULL.items() if k != missing}
    with pytest.raises(MissingVariableError) as info:
        ClientConfig.from_env(env={}, **args)
    err = info.value
    assert err.error_type is ErrorType.MISSING_VARIABLE
    assert err.setting == missing
    suffix = missing.upper()
    assert f"PANW_MODEL_SEC_{suffix}" in str(err)
    assert f"PANW_MGMT_{suffix}" in str(err)
    assert len(err.variables) == 3


def test_client_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLIENT_ID", "CLIENT_SECRET", "TSG_ID"):
        monkeypatch.setenv(f"PANW_MODEL_SEC_{name}", f"env-{name.lower()}")
    client = AsyncModelSecurityClient()
    assert client.config.client_id == "env-client_id"
    assert client.config.tsg_id == "env-tsg_id"


def test_secret_never_in_reprs() -> None:
    cfg = ClientConfig.from_env(client_id="id", client_secret="TOPSECRET", tsg_id="1", env={})
    assert "TOPSECRET" not in repr(cfg)
    client = AsyncModelSecurityClient(client_id="id", client_secret="TOPSECRET", tsg_id="1")
    assert "TOPSECRET" not in repr(client)
    assert "TOPSECRET" not in repr(client.scans)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"data_endpoint": "ftp://x"},
        {"max_connections": -5},
    ],
)
def test_bad_options_are_payload_errors(kwargs: dict) -> None:
    with pytest.raises(PayloadError):
        ClientConfig.from_env(env={}, **FULL, **kwargs)


def test_plain_http_only_to_loopback() -> None:
    with pytest.raises(PayloadError, match="plain http"):
        AsyncModelSecurityClient(**FULL, data_endpoint="http://api.example.com/aims/data")
    with pytest.raises(PayloadError, match="token_endpoint"):
        AsyncModelSecurityClient(**FULL, token_endpoint="http://auth.example.com/token")
    for host in ("127.0.0.1:8765", "localhost:1", "[::1]:80", "127.5.5.5"):
        AsyncModelSecurityClient(
            **FULL,
            data_endpoint=f"http://{host}/aims/data",
            mgmt_endpoint=f"http://{host}/aims/mgmt",
            token_endpoint=f"http://{host}/oauth2/access_token",
        )
