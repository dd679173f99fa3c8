"""Every HTTP error class, with a JSON body and with a non-JSON body."""

from __future__ import annotations

import pytest

import modelsec
from modelsec import errors as E
from modelsec.errors import ErrorType, error_message_from_body
from tests.core import samples as s
from tests.core.conftest import DATA, ClientFactory, FakeAPI

SCAN_URL = f"{DATA}/v1/scans/{s.U1}"

CLASSES = [
    (400, E.BadRequestError, ErrorType.CLIENT_SIDE_ERROR),
    (403, E.PermissionDeniedError, ErrorType.CLIENT_SIDE_ERROR),
    (404, E.NotFoundError, ErrorType.CLIENT_SIDE_ERROR),
    (409, E.ConflictError, ErrorType.CLIENT_SIDE_ERROR),
    (422, E.UnprocessableEntityError, ErrorType.CLIENT_SIDE_ERROR),
    (429, E.RateLimitError, ErrorType.CLIENT_SIDE_ERROR),
    (418, E.APIStatusError, ErrorType.CLIENT_SIDE_ERROR),
    (500, E.InternalServerError, ErrorType.SERVER_SIDE_ERROR),
    (502, E.InternalServerError, ErrorType.SERVER_SIDE_ERROR),
    (503, E.InternalServerError, ErrorType.SERVER_SIDE_ERROR),
]

ENVELOPES = [
    {"detail": "the message"},
    {"error_message": "the message"},
    {"message": "the message"},
    {"error": {"message": "the message", "code": 7}},
]


@pytest.mark.parametrize(("status", "cls", "etype"), CLASSES)
@pytest.mark.parametrize("envelope", ENVELOPES)
async def test_status_errors_with_json_bodies(
    client_factory: ClientFactory,
    fake_api: FakeAPI,
    status: int,
    cls: type,
    etype: ErrorType,
    envelope: dict,
) -> None:
    client = client_factory(max_retries=0)
    fake_api.route(
        "GET", SCAN_URL, status=status, payload=envelope, headers={"x-request-id": "r-1"}
    )
    with pytest.raises(cls) as info:
        await client.scans.get(s.U1)
    err = info.value
    assert type(err) is cls
    assert isinstance(err, modelsec.AISecSDKException)
    assert err.status_code == status
    assert err.error_type is etype
    assert err.body == envelope
    assert err.request_id == "r-1"
    assert "the message" in str(err)
    assert f"-> {status}" in str(err)


@pytest.mark.parametrize(("status", "cls", "etype"), CLASSES)
async def test_status_errors_with_html_bodies(
    client_factory: ClientFactory, fake_api: FakeAPI, status: int, cls: type, etype: ErrorType
) -> None:
    client = client_factory(max_retries=0)
    html = "<html><head><style>p{}</style></head><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    fake_api.route("GET", SCAN_URL, status=status, body=html)
    with pytest.raises(cls) as info:
        await client.scans.get(s.U1)
    message = str(info.value)
    assert "502 Bad Gateway nginx" in message
    assert "<" not in message
    assert "Traceback" not in message
    assert info.value.body == html


async def test_unprocessable_entity_parses_fastapi_detail(
    client: object, fake_api: FakeAPI
) -> None:
    body = {
        "detail": [
            {
                "type": "less_than_equal",
                "loc": ["query", "limit"],
                "msg": "Input should be <= 100",
                "input": "500",
                "ctx": {"le": 100},
            },
            {"type": "missing", "loc": ["body", "model_uri"], "msg": "Field required"},
        ]
    }
    fake_api.route("GET", SCAN_URL, status=422, payload=body)
    with pytest.raises(E.UnprocessableEntityError) as info:
        await client.scans.get(s.U1)  # type: ignore[attr-defined]
    err = info.value
    assert [d.loc for d in err.detail] == [["query", "limit"], ["body", "model_uri"]]
    assert err.detail[0].ctx == {"le": 100}
    assert "query.limit: Input should be <= 100" in str(err)
    assert "body.model_uri: Field required" in str(err)


async def test_empty_error_body_still_readable(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(max_retries=0)
    fake_api.route("GET", SCAN_URL, status=500, body="")
    with pytest.raises(E.InternalServerError, match="HTTP 500"):
        await client.scans.get(s.U1)


async def test_malformed_success_body_raises_response_validation_error(
    client: object, fake_api: FakeAPI
) -> None:
    bad = s.scan()
    bad["created_at"] = "yesterday-ish"
    del bad["owner"]
    fake_api.route("GET", SCAN_URL, payload=bad)
    with pytest.raises(E.ResponseValidationError) as info:
        await client.scans.get(s.U1)  # type: ignore[attr-defined]
    err = info.value
    assert err.error_type is ErrorType.RESPONSE_VALIDATION
    assert any("$.created_at" in m for m in err.errors)
    assert any("$.owner" in m for m in err.errors)


def test_non_http_errors_have_their_types() -> None:
    assert E.PayloadError("x").error_type is ErrorType.USER_REQUEST_PAYLOAD_ERROR
    assert E.MissingVariableError("tsg_id", ["A", "B"]).error_type is ErrorType.MISSING_VARIABLE
    assert E.OAuthError("x").error_type is ErrorType.OAUTH_ERROR
    assert E.APIConnectionError("x").error_type is ErrorType.SERVER_SIDE_ERROR
    assert isinstance(E.APITimeoutError("x"), E.APIConnectionError)
    assert E.ModelSecError is E.AISecSDKException
    assert isinstance(E.PayloadError("x"), ValueError)


def test_error_message_from_body_shapes() -> None:
    assert error_message_from_body(None) is None
    assert error_message_from_body({"unrelated": 1}) is None
    assert error_message_from_body("plain text\n  error") == "plain text error"
    assert error_message_from_body({"error": "invalid_client", "error_description": "bad"}) == "bad"
    assert error_message_from_body("x" * 1000, limit=10) == "x" * 10 + "..."
