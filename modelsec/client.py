"""``AsyncModelSecurityClient``: configuration -> token cache -> transport -> sub-clients."""

from __future__ import annotations

import os
import ssl
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp

from modelsec.config import DEFAULT_CONNECT_TIMEOUT, ClientConfig, Timeouts
from modelsec.core.auth import TokenInfo
from modelsec.core.redact import redact_url
from modelsec.core.transport import Plane, RequestOptions, Transport
from modelsec.errors import PayloadError
from modelsec.resources import (
    AsyncCustomRules,
    AsyncModels,
    AsyncScans,
    AsyncSecurityGroups,
    AsyncSecurityRules,
)
from modelsec.resources._validate import LabelsArg, check_relative_path, check_uuid
from modelsec.types import PyPIAuth
from modelsec.types._base import structure

if TYPE_CHECKING:
    from modelsec.fleet import ExecutorLike
    from modelsec.workflows import ScanProgress, ScanResult, Target

__all__ = ["AsyncModelSecurityClient"]

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


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
                connect=min(DEFAULT_CONNECT_TIMEOUT, float(timeout)),
                read=float(timeout),
                total=float(timeout),
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
        data, mgmt = redact_url(cfg.data_endpoint), redact_url(cfg.mgmt_endpoint)
        return (
            f"AsyncModelSecurityClient(client_id={cfg.client_id!r}, tsg_id={cfg.tsg_id!r}, "
            f"data_endpoint={data!r}, mgmt_endpoint={mgmt!r})"
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
            >>> async def example(client):
            ...     patient = client.with_options(timeout=120, max_retries=5)
            ...     await patient.scans.get(scan_uuid)
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
            >>> client = AsyncModelSecurityClient(client_id="id", client_secret="s", tsg_id="1")
            >>> client.token_info().has_token  # nothing fetched before the first request
            False
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
            >>> async def example(client):
            ...     auth = await client.get_pypi_auth()
            ...     auth.expires_at
        """
        options = self._options.for_call(timeout, extra_headers)
        data: Any = await self._transport.request(
            "GET", "mgmt", "/v1/pypi/authenticate", options=options
        )
        return structure(data, PyPIAuth)

    async def request(
        self,
        method: str,
        path: str,
        *,
        plane: Plane = "data",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send any API call with this client's token, retries, timeouts and logging.

        For an operation or a parameter the SDK does not have yet, and for bulk readers that
        want the plain JSON (``dict``/``list``) rather than typed objects: nothing is
        structured, so the cost over a bare aiohttp call is the transport's alone. ``path`` is
        relative to the plane's base URL; ``params`` are sent as the typed methods send them
        (lists as repeated keys, ``None`` left out). A POST is not re-sent after a failure that
        the server may have acted on, as with the typed methods.

        Returns:
            The parsed JSON body, or ``None`` for an empty one (``204``).

        Raises:
            PayloadError: a method, plane or path that cannot be sent (before any request).
            APIStatusError: a subclass per status, as for the typed methods.

        Example:
            >>> async def example(client):
            ...     page = await client.request("GET", "/v1/scans", params={"limit": 100})
            ...     outcomes = [s["eval_outcome"] for s in page["scans"]]
        """
        verb = method.upper() if isinstance(method, str) else method
        if verb not in _METHODS:
            raise PayloadError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
        if plane not in ("data", "mgmt"):
            raise PayloadError(f"plane must be 'data' or 'mgmt', got {plane!r}")
        check_relative_path(path)
        return await self._transport.request(
            verb,
            plane,
            path,
            params=params,
            json_body=json,
            options=self._options.for_call(timeout, extra_headers),
        )

    async def scan(
        self,
        target: Target,
        *,
        security_group_uuid: str | None = None,
        wait: bool = True,
        timeout: float | None = 600.0,
        poll_interval: float | None = None,
        model_name: str | None = None,
        model_author: str | None = None,
        model_version: str | None = None,
        allow_patterns: Sequence[str] | None = None,
        ignore_patterns: Sequence[str] | None = None,
        labels: LabelsArg | None = None,
        reconcile_window: float | None = None,
        download_dir: str | os.PathLike[str] | None = None,
        executor: ExecutorLike | None = None,
        target_python: str | Sequence[str] | None = None,
    ) -> ScanResult:
        """Scan one model and return its verdict: the common task in one call.

        A remote URI (``hf://org/model``, ``https://huggingface.co/...``, ``s3://...``) is
        submitted as is. A local file or directory is scanned on this machine with
        :func:`modelsec.scanner.scan_path` (in a worker thread; nothing in the model is loaded
        or run) and submitted as a LOCAL scan with its ``scan_details``. A model in object
        storage or a registry (``s3://``, ``gs://``, ``az://``, Azure Blob, Artifactory and GitLab
        model registry URLs: see :mod:`modelsec.sources`) is read and scanned the same way, in a
        worker thread, and submitted with ``model_uri`` = the URI and its source type;
        ``download_dir`` keeps a copy of it there. Without ``security_group_uuid`` the
        ``Default <SOURCE_TYPE>`` group of the target's source is used. With ``wait=True`` it
        polls until the scan settles; a BLOCKED result carries every violation. The create is
        tagged with a ``modelsec_request_id`` label and reconciled if its outcome is unknown:
        it is sent again only when no scan carries the label ``reconcile_window`` seconds
        after the failure (default: the request's connect + read timeouts + 10 s), so a create
        still in flight is not duplicated; one that lands even later is reported in
        ``result.duplicates`` (see :mod:`modelsec.reconcile`).
        ``executor`` runs the local read + scan elsewhere (a process pool, a Dask or Ray
        cluster: see ``scan_many``). ``target_python`` names the Python interpreters that
        will load the model (``"3.12"``, ``"3.11,3.12"``, ``"pypy"``, ``"any"``; default:
        this one), for which the local scan judges functions pickled by value (see
        :mod:`modelsec.scanner.interpreters`).

        Raises:
            ScanTimeoutError: the scan did not settle within ``timeout`` seconds.
            PayloadError: a local path that does not exist, or bad arguments.

        Example:
            >>> async def example(client):
            ...     result = await client.scan("hf://org/model", security_group_uuid=group_uuid)
            ...     if result.is_blocked:
            ...         for v in result.violations:
            ...             print(v.rule_name, v.description)
        """
        from modelsec.workflows import scan_one

        return await scan_one(
            self,
            target,
            security_group_uuid=_group_arg(security_group_uuid),
            wait=wait,
            timeout=timeout,
            poll_interval=poll_interval,
            model_name=model_name,
            model_author=model_author,
            model_version=model_version,
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
            labels=labels,
            reconcile_window=reconcile_window,
            download_dir=None if download_dir is None else os.fspath(download_dir),
            executor=executor,
            target_python=target_python,
        )

    def scan_many(
        self,
        targets: Iterable[Target],
        *,
        security_group_uuid: str | None = None,
        concurrency: int = 8,
        wait: bool = True,
        timeout: float | None = 600.0,
        poll_interval: float | None = None,
        on_progress: Callable[[ScanProgress], Any] | None = None,
        model_name: str | None = None,
        model_author: str | None = None,
        model_version: str | None = None,
        allow_patterns: Sequence[str] | None = None,
        ignore_patterns: Sequence[str] | None = None,
        labels: LabelsArg | None = None,
        reconcile_window: float | None = None,
        journal: str | os.PathLike[str] | None = None,
        download_dir: str | os.PathLike[str] | None = None,
        executor: ExecutorLike | None = None,
        target_python: str | Sequence[str] | None = None,
    ) -> AsyncIterator[ScanResult]:
        """Scan many models with bounded concurrency; yield one result per input as each ends.

        Every input yields exactly one :class:`~modelsec.workflows.ScanResult`, holding the
        settled scan or the error that ended it; results come in completion order (``index``
        gives the input position). A 429 makes every task of the batch hold off together;
        the token is refreshed once for all. A create whose outcome is unknown is reconciled
        through its ``modelsec_request_id`` label, for ``reconcile_window`` seconds after the
        failure (default: the request's connect + read timeouts + 10 s), before it is ever sent
        again, so the service holds exactly one scan per input; a create that reaches the
        service after that window is reported in ``result.duplicates``. Stopping the
        iteration (``break``, cancellation) stops new work and leaves no task behind.

        If iterating ``targets`` raises, no further input is taken: the inputs already taken
        run to their end and their results are yielded, then the iterable's exception is
        raised unchanged, with no task left running. ``on_progress`` is called before each
        result is yielded (by the sync client, in the thread that iterates).

        ``journal=PATH`` makes the batch resumable: an append-only, fsync'd JSON-lines file
        of each target's request id, scan uuid and outcome (:mod:`modelsec.journal`). Run the
        same batch again with the same journal after a crash or ``kill -9``: settled targets
        are yielded from the journal (``result.from_journal``) without a request, creates of
        unknown outcome are reconciled by their label, the rest proceed. A journal of another
        batch (different options, or another target at an index) raises ``JournalError``.

        ``executor`` runs the read + scan of local targets on any
        ``concurrent.futures.Executor`` instead of this process's threads: a
        ``ProcessPoolExecutor`` (every core), ``distributed.Client`` or its ``get_executor()``
        (Dask), :class:`modelsec.fleet.RayExecutor` (Ray). Workers read the model themselves
        and send back only its ``ScanDetails``; API calls stay here. A worker that dies is
        replaced and its targets scanned again (see :mod:`modelsec.fleet`).
        ``target_python`` is as for ``scan`` (workers judge for this interpreter, not their own).

        Example:
            >>> async def example(client):
            ...     async for result in client.scan_many(uris, security_group_uuid=group_uuid,
            ...                                         concurrency=32):
            ...         print(result.target, result.outcome or result.error)
        """
        from modelsec.batch import scan_many

        return scan_many(
            self,
            targets,
            security_group_uuid=_group_arg(security_group_uuid),
            concurrency=concurrency,
            wait=wait,
            timeout=timeout,
            poll_interval=poll_interval,
            on_progress=on_progress,
            model_name=model_name,
            model_author=model_author,
            model_version=model_version,
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
            labels=labels,
            reconcile_window=reconcile_window,
            journal=journal,
            download_dir=None if download_dir is None else os.fspath(download_dir),
            executor=executor,
            target_python=target_python,
        )

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
            and transport.on_abandoned is None  # a sync client's: closed and warned there
        ):
            warnings.warn(
                "unclosed AsyncModelSecurityClient; use 'async with' or 'await client.close()'",
                ResourceWarning,
                stacklevel=2,
            )


def _group_arg(value: str | None) -> str | None:
    """A given group uuid, checked; None picks each target's ``Default <SOURCE_TYPE>`` group."""
    return None if value is None else check_uuid("security_group_uuid", value)
