"""Fixtures for unit tests of the async core: a client wired to aioresponses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import attrs
import pytest
from aioresponses import CallbackResult, aioresponses

from modelsec import AsyncModelSecurityClient

DATA = "https://api.test/aims/data"
MGMT = "https://api.test/aims/mgmt"
TOKEN_URL = "https://auth.test/oauth2/access_token"
SECRET = "sup3r-s3cret-value"


@attrs.define
class Call:
    method: str
    url: str  # without query
    params: list[tuple[str, str]]
    json: Any
    headers: dict[str, str]


@attrs.define
class FakeAPI:
    """Routes on top of aioresponses that record every request in order."""

    mock: aioresponses
    calls: list[Call] = attrs.field(factory=list)
    token_calls: list[dict[str, Any]] = attrs.field(factory=list)
    sleeps: list[float] = attrs.field(factory=list)
    token_value: str = "tok-1"

    def route(
        self,
        method: str,
        plane_path: str,
        *,
        payload: Any = None,
        status: int = 200,
        body: str | None = None,
        headers: dict[str, str] | None = None,
        repeat: bool = False,
        exception: BaseException | None = None,
    ) -> None:
        url = plane_path  # absolute URL
        pattern = re.compile("^" + re.escape(url) + r"(\?.*)?$")

        def callback(u: Any, **kwargs: Any) -> CallbackResult:
            self._record(method, u, kwargs)
            return CallbackResult(
                status=status,
                payload=payload if body is None else None,
                body=body if body is not None else "",
                headers=headers,
                content_type="application/json" if body is None else "text/html",
            )

        if exception is not None:
            # aioresponses runs the callback (which records the call), then raises ``exception``.
            def record_only(u: Any, **kwargs: Any) -> None:
                self._record(method, u, kwargs)

            self.mock.add(
                pattern, method=method, callback=record_only, exception=exception, repeat=repeat
            )
        else:
            self.mock.add(pattern, method=method, callback=callback, repeat=repeat)

    def _record(self, method: str, url: Any, kwargs: dict[str, Any]) -> None:
        import json as _json

        data = kwargs.get("data")
        self.calls.append(
            Call(
                method=method,
                url=str(url).split("?")[0],
                params=list(kwargs.get("params") or []),
                json=_json.loads(data) if isinstance(data, str) else None,
                headers=dict(kwargs.get("headers") or {}),
            )
        )

    def token(self, *, status: int = 200, payload: Any = None, repeat: bool = True) -> None:
        def callback(u: Any, **kwargs: Any) -> CallbackResult:
            self.token_calls.append(kwargs)
            return CallbackResult(
                status=status,
                payload=payload
                if payload is not None
                else {"access_token": self.token_value, "expires_in": 900, "token_type": "Bearer"},
            )

        self.mock.post(TOKEN_URL, callback=callback, repeat=repeat)

    @property
    def api_calls(self) -> list[Call]:
        return self.calls


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    with aioresponses() as m:
        api = FakeAPI(mock=m)
        api.token()
        yield api


ClientFactory = Callable[..., AsyncModelSecurityClient]


@pytest.fixture
async def client_factory(fake_api: FakeAPI) -> AsyncIterator[ClientFactory]:
    made: list[AsyncModelSecurityClient] = []

    def make(**kwargs: Any) -> AsyncModelSecurityClient:
        options: dict[str, Any] = {
            "client_id": "cid",
            "client_secret": SECRET,
            "tsg_id": "1234567890",
            "data_endpoint": DATA,
            "mgmt_endpoint": MGMT,
            "token_endpoint": TOKEN_URL,
        }
        options.update(kwargs)
        client = AsyncModelSecurityClient(**options)

        async def fake_sleep(seconds: float) -> None:
            fake_api.sleeps.append(seconds)

        client._transport.sleep = fake_sleep
        client._transport.tokens._sleep = fake_sleep
        made.append(client)
        return client

    yield make
    for c in made:
        await c.close()


@pytest.fixture
async def client(client_factory: ClientFactory) -> AsyncModelSecurityClient:
    return client_factory()
