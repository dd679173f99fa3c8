"""``AsyncModelSecurityClient``: configuration -> token cache -> transport -> sub-clients."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp

from modelsec.config import ClientConfig, Timeouts
from modelsec.core.auth import TokenInfo
from modelsec.core.transport import RequestOptions, Transport
from modelsec.resources import (
    AsyncCustomRules,
    AsyncModels,
    AsyncScans,
    AsyncSecurityGroups,
    AsyncSecurityRules,
)
from modelsec.types import PyPIAuth
from modelsec.types._base import structure

__all__ = ["AsyncModelSecurityClient"]


class AsyncModelSecurityClient:
    """The async client of the Model Security API (data and management planes).

    With no arguments it reads credentials and endpoints from the environment
    (``PANW_MODEL_SEC_*``, then ``PANW_MGMT_*``, then ``MODEL_SECURITY_*``).

    Args:
        client_id, client_secret, tsg_id: OAuth2 client credentials and tenant.
        data_endpoint, mgmt_endpoint, token_endpoint: override the default URLs.
        max_retries: retries per call of transient failures (default 2).
        timeout: seconds per call (a number) or ``Timeouts(connect, read, total)``.
        max_connections, max_connections_per_host: connection pool limits (0 = unlimited).
        ssl_context: a custom ``ssl.SSLContext`` (corporate CA bundles).
        session: an ``aiohttp.ClientSession`` to use; it is never closed by the client.
        user_agent: a suffix appended to the User-Agent header.

    Example:
        >>> import asyncio
        >>> async def main():
        ...     async with AsyncModelSecurityClient() as client:
        ...         async for scan in client.scans.list(eval_outcomes=["BLOCKED"]):
        ...             print(scan.model_uri)
    """

    scans: AsyncScans
    security_groups: AsyncSecurityGroups
    security_rules: AsyncSecurityRules
    models: AsyncModels
    custom_rules: AsyncCustomRules

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        tsg_id: str | None = None,
        data_endpoint: str | None = None,
        mgmt_endpoint: str | None = None,
        token_endpoint: str | None = None,
        max_retries: int = 2,
        timeout: float | Timeouts | None = None,
        max_connections: int = 100,
        max_connections_per_host: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        session: aiohttp.ClientSession | None = None,
        user_agent: str | None = None,
        retry_after_cap: float = 60.0,
        trust_env: bool = True,
    ) -> None:
        timeouts: Timeouts | None
        if timeout is None or isinstance(timeout, Timeouts):
            timeouts = timeout
        else:
            timeouts = Timeouts(
                connect=min(10.0, float(timeout)), read=float(timeout), total=float(timeout)
            )
        config = ClientConfig.from_env(
            client_id=client_id,
            client_secret=client_secret,
            tsg_id=tsg_id,
            data_endpoint=data_endpoint,
            mgmt_endpoint=mgmt_endpoint,
            token_endpoint=token_endpoint,
            max_retries=max_retries,
            timeouts=timeouts,
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            ssl_context=ssl_context,
            user_agent_suffix=user_agent,
            retry_after_cap=retry_after_cap,
            trust_env=trust_env,
        )
        self._transport = Transport(config, session=session)
        self._options = RequestOptions()
        self._is_copy = False
        self._build_resources()

    def _build_resources(self) -> None:
        self.scans = AsyncScans(self._transport, self._options)
        self.security_groups = AsyncSecurityGroups(self._transport, self._options)
        self.security_rules = AsyncSecurityRules(self._transport, self._options)
        self.models = AsyncModels(self._transport, self._options)
        self.custom_rules = AsyncCustomRules(self._transport, self._options)

    @property
    def config(self) -> ClientConfig:
        """The resolved configuration (secrets hidden in its repr)."""
        return self._transport.config

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"AsyncModelSecurityClient(client_id={cfg.client_id!r}, tsg_id={cfg.tsg_id!r}, "
            f"data_endpoint={cfg.data_endpoint!r}, mgmt_endpoint={cfg.mgmt_endpoint!r})"
        )

    def with_options(
        self,
        *,
        timeout: float | Timeouts | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncModelSecurityClient:
        """A copy with other defaults, sharing this client's session and token cache.

        Example:
            >>> patient = client.with_options(timeout=120, max_retries=5)
            >>> await patient.scans.get(scan_uuid)
        """
        copy = object.__new__(type(self))
        copy._transport = self._transport
        copy._options = self._options.merge(
            RequestOptions(
                timeout=timeout, max_retries=max_retries, extra_headers=dict(extra_headers or {})
            )
        )
        copy._is_copy = True
        copy._build_resources()
        return copy

    def token_info(self) -> TokenInfo:
        """The token cache's state (expiry, fetch count), never the token itself.

        Example:
            >>> client.token_info().fetch_count
            1
        """
        return self._transport.tokens.token_info()

    async def get_pypi_auth(
        self,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> PyPIAuth:
        """A short-lived URL of the vendor's package index (``GET /v1/pypi/authenticate``).

        The URL embeds a credential: the result's ``repr`` redacts it. Fetch a fresh one when
        ``expires_at`` nears instead of storing it.

        Example:
            >>> auth = await client.get_pypi_auth()
            >>> auth.expires_at
        """
        options = self._options
        if timeout is not None or extra_headers:
            options = options.merge(
                RequestOptions(timeout=timeout, extra_headers=dict(extra_headers or {}))
            )
        data: Any = await self._transport.request(
            "GET", "mgmt", "/v1/pypi/authenticate", options=options
        )
        return structure(data, PyPIAuth)

    async def close(self) -> None:
        """Close the HTTP session (if the client created it). Copies share it: closing any
        closes all."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncModelSecurityClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __del__(self) -> None:
        transport = getattr(self, "_transport", None)
        if (
            transport is not None
            and not getattr(self, "_is_copy", True)
            and transport.has_open_session
        ):
            warnings.warn(
                "unclosed AsyncModelSecurityClient; use 'async with' or 'await client.close()'",
                ResourceWarning,
                stacklevel=2,
            )
