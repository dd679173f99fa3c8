"""``client.scans``: scans, their evaluations, violations, files and labels (data plane).

:class:`AsyncScans` holds a scan's life here (create, wait, list, get) and inherits the reading
of its results (:mod:`modelsec.resources.scan_results`) and its labels
(:mod:`modelsec.resources.scan_labels`): one sub-client, one concept a module.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelsec.config import Timeouts
from modelsec.core.pagination import AsyncPaginator
from modelsec.core.polling import poll_until
from modelsec.core.transport import encode_path
from modelsec.errors import PayloadError, ScanTimeoutError
from modelsec.resources._validate import (
    LabelsArg,
    check_choice,
    check_labels,
    check_limit,
    check_skip,
    check_strings,
    check_text,
    check_uuid,
)
from modelsec.resources.scan_labels import _ScanLabels
from modelsec.resources.scan_results import _DIRECTIONS, _ScanResults
from modelsec.types import (
    EvalOutcome,
    Scan,
    ScanDetails,
    ScanList,
    ScanOrigin,
    SortDirection,
    SourceType,
)

__all__ = ["AsyncScans"]

log = logging.getLogger("modelsec.scans")
_warned_outcomes: set[str] = set()


def _scan_settled(scan: Scan) -> bool:
    """True for ALLOWED/BLOCKED/ERROR; an outcome this SDK does not know is not settled."""
    outcome = scan.eval_outcome
    if not isinstance(outcome, EvalOutcome) and outcome not in _warned_outcomes:
        _warned_outcomes.add(outcome)
        log.warning(
            "scan %s has an eval_outcome this SDK does not know (%r); treating it as not "
            "settled yet. Upgrading modelsec may help.",
            scan.uuid,
            outcome,
        )
    return scan.is_settled


def _describe_scan(scan: Scan) -> str:
    return f"scan {scan.uuid} is still {scan.eval_outcome}"


class AsyncScans(_ScanResults, _ScanLabels):
    """Scans of models against security groups (data plane).

    Example:
        >>> async def main(client):
        ...     scan = await client.scans.create(model_uri="hf://org/model",
        ...         security_group_uuid=group_uuid)
        ...     scan = await client.scans.get(scan.uuid)
    """

    _plane = "data"

    async def create(
        self,
        *,
        model_uri: str,
        security_group_uuid: str,
        scan_origin: ScanOrigin | str | None = ScanOrigin.MODEL_SECURITY_SDK,
        model_name: str | None = None,
        model_author: str | None = None,
        model_version: str | None = None,
        allow_patterns: Sequence[str] | None = None,
        ignore_patterns: Sequence[str] | None = None,
        labels: LabelsArg | None = None,
        scan_details: ScanDetails | Mapping[str, Any] | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Scan:
        """Start a scan (``POST /v1/scans``). It is created ``PENDING`` and settles later.

        Scans cannot be deleted, so this request is never retried where the service may have
        acted on it (a 5xx or a connection lost after sending); see ``client.scan_many`` for
        exactly-once creation under faults.

        Args:
            model_uri: ``https://huggingface.co/org/model``, ``hf://org/model``, ``s3://...``,
                or the local path of a LOCAL scan.
            security_group_uuid: the policy to apply.
            scan_details: the client-side scan results of a LOCAL scan
                (see :func:`modelsec.scanner.scan_path`).
            labels: ``{"team": "ml"}`` or ``[Label(...)]`` (at most 50).

        Example:
            >>> async def example(client):
            ...     scan = await client.scans.create(
            ...         model_uri="hf://my-org/my-model", security_group_uuid=group_uuid,
            ...         labels={"team": "ml-platform"})
        """
        if not isinstance(model_uri, str) or not model_uri.strip():
            raise PayloadError("model_uri must be a non-empty string")
        body: dict[str, Any] = {
            "model_uri": model_uri,
            "security_group_uuid": check_uuid("security_group_uuid", security_group_uuid),
        }
        if scan_origin is not None:
            body["scan_origin"] = getattr(scan_origin, "value", scan_origin)
        for name, value in (
            ("model_name", model_name),
            ("model_author", model_author),
            ("model_version", model_version),
        ):
            if value is not None:
                body[name] = check_text(name, value)
        for name, patterns in (
            ("allow_patterns", allow_patterns),
            ("ignore_patterns", ignore_patterns),
        ):
            checked = check_strings(name, patterns)
            if checked is not None:
                for p in checked:
                    check_text(f"{name} entry", p, max_len=256)
                body[name] = checked
        if labels is not None:
            body["labels"] = [lb.to_dict() for lb in check_labels(labels, allow_empty=True)]
        if scan_details is not None:
            if isinstance(scan_details, ScanDetails):
                details = scan_details.to_dict(exclude_none=True)
            elif isinstance(scan_details, Mapping):
                details = dict(scan_details)
            else:
                raise PayloadError("scan_details must be a ScanDetails or a mapping")
            files = details.get("files")
            if isinstance(files, list) and len(files) > 1000:
                raise PayloadError(f"scan_details may list at most 1000 files, got {len(files)}")
            body["scan_details"] = details
        return await self._call(
            "POST",
            "/v1/scans",
            Scan,
            body=body,
            replayable=False,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def wait(
        self,
        uuid: str,
        *,
        timeout: float | None = 600.0,
        poll_interval: float | None = None,
    ) -> Scan:
        """Poll a scan until it settles (``ALLOWED``, ``BLOCKED`` or ``ERROR``) and return it.

        Polls at once, then after 1 s growing x1.5 up to 15 s (with jitter), or every
        ``poll_interval`` seconds. An outcome this SDK does not know counts as not settled
        (logged once). Cancelling the wait leaves nothing behind.

        Raises:
            ScanTimeoutError: ``timeout`` seconds passed first; ``err.last`` is the last scan seen.

        Example:
            >>> async def example(client, scan_uuid):
            ...     scan = await client.scans.wait(scan_uuid, timeout=300)
            ...     return scan.eval_outcome  # ALLOWED, BLOCKED or ERROR
        """
        scan_uuid = check_uuid("uuid", uuid)
        _check_wait_args(timeout, poll_interval)

        async def fetch(remaining: float | None) -> Scan:
            return await self.get(scan_uuid, timeout=remaining)

        return await poll_until(
            fetch,
            _scan_settled,
            timeout=timeout,
            poll_interval=poll_interval,
            sleep=self._transport.sleep,
            rand=self._transport.rand,
            describe=_describe_scan,
            error=ScanTimeoutError,
        )

    async def create_and_wait(
        self,
        *,
        model_uri: str,
        security_group_uuid: str,
        scan_origin: ScanOrigin | str | None = ScanOrigin.MODEL_SECURITY_SDK,
        model_name: str | None = None,
        model_author: str | None = None,
        model_version: str | None = None,
        allow_patterns: Sequence[str] | None = None,
        ignore_patterns: Sequence[str] | None = None,
        labels: LabelsArg | None = None,
        scan_details: ScanDetails | Mapping[str, Any] | None = None,
        timeout: float | None = 600.0,
        poll_interval: float | None = None,
    ) -> Scan:
        """Create a scan and wait until it settles; see :meth:`create` and :meth:`wait`.

        Example:
            >>> async def example(client):
            ...     scan = await client.scans.create_and_wait(
            ...         model_uri="hf://org/model", security_group_uuid=group_uuid)
        """
        _check_wait_args(timeout, poll_interval)
        created = await self.create(
            model_uri=model_uri,
            security_group_uuid=security_group_uuid,
            scan_origin=scan_origin,
            model_name=model_name,
            model_author=model_author,
            model_version=model_version,
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
            labels=labels,
            scan_details=scan_details,
        )
        if created.is_settled:
            return created
        return await self.wait(created.uuid, timeout=timeout, poll_interval=poll_interval)

    def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        sort_order: SortDirection | str | None = None,
        sort_by: str | None = None,
        search_query: str | None = None,
        security_group_uuid: str | None = None,
        model_version_uuid: str | None = None,
        source_types: Iterable[SourceType | str] | None = None,
        eval_outcomes: Iterable[EvalOutcome | str] | None = None,
        start_time: _dt.datetime | None = None,
        end_time: _dt.datetime | None = None,
        labels_query: str | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[ScanList, Scan]:
        """List scans (``GET /v1/scans``), newest first by default.

        ``await`` the result for one page (``.scans``, ``.pagination``); ``async for`` it for
        every scan. ``labels_query`` filters by labels: ``team:ml AND (env:prod OR env:*)``.
        ``sort_by`` is sent as given but the service documents no such parameter.

        Example:
            >>> async def example(client):
            ...     async for scan in client.scans.list(eval_outcomes=["BLOCKED"]):
            ...         print(scan.model_uri)
        """
        check_skip(skip)
        check_limit(limit)
        params: dict[str, Any] = {
            "sort_order": check_choice("sort_order", sort_order, _DIRECTIONS),
            "sort_by": sort_by,
            "search_query": check_text("search_query", search_query, max_len=256),
            "security_group_uuid": None
            if security_group_uuid is None
            else check_uuid("security_group_uuid", security_group_uuid),
            "model_version_uuid": None
            if model_version_uuid is None
            else check_uuid("model_version_uuid", model_version_uuid),
            "source_types": check_strings("source_types", source_types),
            "eval_outcomes": check_strings("eval_outcomes", eval_outcomes),
            "start_time": _check_time("start_time", start_time),
            "end_time": _check_time("end_time", end_time),
            "labels_query": check_text("labels_query", labels_query, min_len=1, max_len=4096),
        }

        return self._paginate(
            "/v1/scans",
            ScanList,
            _scans_of,
            params,
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def get(
        self,
        uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Scan:
        """One scan by UUID (``GET /v1/scans/{uuid}``).

        Example:
            >>> async def example(client):
            ...     scan = await client.scans.get(scan_uuid)
        """
        path = encode_path("/v1/scans/{uuid}", uuid=check_uuid("uuid", uuid))
        return await self._call("GET", path, Scan, timeout=timeout, extra_headers=extra_headers)


def _check_wait_args(timeout: float | None, poll_interval: float | None) -> None:
    if timeout is not None and (isinstance(timeout, bool) or timeout <= 0):
        raise PayloadError(f"timeout must be > 0 seconds (or None), got {timeout!r}")
    if poll_interval is not None and (isinstance(poll_interval, bool) or poll_interval <= 0):
        raise PayloadError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")


def _check_time(name: str, value: _dt.datetime | None) -> _dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, _dt.datetime):
        raise PayloadError(f"{name} must be a datetime, got {type(value).__name__}")
    return value


def _scans_of(page: ScanList) -> builtins.list[Scan]:
    return page.scans
