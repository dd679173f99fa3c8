"""One-call scans and a batch scanner that loses nothing.

``client.scan(target)`` does the common task in one call: a remote URI is submitted as is; a
local path is scanned on this machine with :mod:`modelsec.scanner` (in a worker thread) and
submitted as a LOCAL scan with its ``scan_details``; then it waits for the verdict and, when
the model is blocked, fetches the violations.

``client.scan_many(targets)`` does that for a fleet with bounded concurrency and yields one
:class:`ScanResult` per input, in completion order. Scans cannot be deleted, so a create whose
outcome is unknown (a 5xx, a timeout, or a connection reset after the request was sent) must
never simply be sent again. Each create therefore carries an idempotency label,
``modelsec_request_id=<32 hex chars>``; after an unknown outcome the batch looks the label up
with ``labels_query`` and sends the create again only when no scan carries it. The label stays
on the scan (useful for audits: it ties a scan to the batch entry that made it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid as _uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

import anyio.to_thread
import attrs

from modelsec.core.polling import TRANSIENT_ERRORS
from modelsec.errors import (
    APIConnectionError,
    APIStatusError,
    PayloadError,
    RateLimitError,
    WaitTimeoutError,
)
from modelsec.resources._validate import LabelsArg, check_labels
from modelsec.types import (
    EvalOutcome,
    Label,
    Scan,
    ScanDetails,
    SourceType,
    Violation,
)

if TYPE_CHECKING:
    from modelsec.client import AsyncModelSecurityClient

__all__ = [
    "IDEMPOTENCY_LABEL",
    "ScanProgress",
    "ScanResult",
    "Target",
    "source_type_of",
]

log = logging.getLogger("modelsec.batch")

T = TypeVar("T")

IDEMPOTENCY_LABEL = "modelsec_request_id"
"""Label key tagging each create of ``scan_many`` so an unknown outcome can be reconciled."""

Target = Union[str, "os.PathLike[str]"]

_REMOTE_SCHEMES = ("hf://", "s3://", "gs://", "https://", "http://")


def source_type_of(target: Target) -> SourceType:
    """The source type a target implies: a local path is LOCAL; URIs by scheme and host.

    Example:
        >>> source_type_of("hf://org/model")
        <SourceType.HUGGING_FACE: 'HUGGING_FACE'>
        >>> source_type_of("s3://bucket/models/bert")
        <SourceType.S3: 'S3'>
        >>> source_type_of("./models/bert")
        <SourceType.LOCAL: 'LOCAL'>
    """
    text = os.fspath(target)
    lowered = text.lower()
    if lowered.startswith("hf://") or re.match(r"^https?://(www\.)?huggingface\.co/", lowered):
        return SourceType.HUGGING_FACE
    if lowered.startswith("s3://"):
        return SourceType.S3
    if lowered.startswith("gs://"):
        return SourceType.GCS
    if re.match(r"^https://[^/]+\.blob\.core\.windows\.net/", lowered):
        return SourceType.AZURE
    if re.match(r"^https://[^/]+\.jfrog\.io/", lowered):
        return SourceType.ARTIFACTORY
    if lowered.startswith("https://") and "/-/ml/models/" in lowered:
        return SourceType.GITLAB
    return SourceType.LOCAL


def _is_remote(target: Target) -> bool:
    return os.fspath(target).lower().startswith(_REMOTE_SCHEMES)


@attrs.frozen(kw_only=True)
class ScanResult:
    """The outcome of scanning one target: the settled scan, or the error that ended it.

    Attributes:
        target: the input as given (a path or a URI).
        index: the input's position in ``scan_many``'s iterable (0 for ``scan``).
        scan: the last state of the scan, when one was created (also when an error ended the
            wait: the scan exists on the service and its uuid is here).
        violations: every violation, fetched when the scan is BLOCKED or when ALLOWING rules
            failed on an ALLOWED scan.
        error: the exception that ended this target (``ScanTimeoutError``, an API error...).
        scan_details: what the local scanner found, for local targets.

    Example:
        >>> result = await client.scan("./models/bert", security_group_uuid=group)  # doctest: +SKIP
        >>> result.is_blocked, [v.description for v in result.violations]  # doctest: +SKIP
    """

    target: str
    index: int = 0
    scan: Scan | None = None
    violations: list[Violation] = attrs.field(factory=list)
    error: BaseException | None = None
    scan_details: ScanDetails | None = attrs.field(default=None, repr=False)

    @property
    def outcome(self) -> EvalOutcome | str | None:
        """The scan's ``eval_outcome``, or None when no scan was created."""
        return None if self.scan is None else self.scan.eval_outcome

    @property
    def is_allowed(self) -> bool:
        """The scan settled ALLOWED."""
        return self.error is None and self.outcome == EvalOutcome.ALLOWED

    @property
    def is_blocked(self) -> bool:
        """The scan settled BLOCKED."""
        return self.error is None and self.outcome == EvalOutcome.BLOCKED

    @property
    def is_error(self) -> bool:
        """The scan ended in ERROR, or the target failed before settling (see ``error``)."""
        return self.error is not None or self.outcome == EvalOutcome.ERROR

    @property
    def reason(self) -> str | None:
        """Why the target ended in error, in one line; None when it settled without one.

        The exception that ended it (``error``), or the service's ``error_code`` and
        ``error_message`` for a scan that settled ERROR.

        Example:
            >>> ScanResult(target="./m", error=TimeoutError("no verdict in 600 s")).reason
            'TimeoutError: no verdict in 600 s'
        """
        return _reason_of(self)

    def __str__(self) -> str:
        """One line: the target, its outcome and why (``print(result)`` in a loop).

        Example:
            >>> print(ScanResult(target="./m", error=TimeoutError("no verdict in 600 s")))
            ./m: ERROR (TimeoutError: no verdict in 600 s)
        """
        return _result_line(self)


@attrs.frozen(kw_only=True)
class ScanProgress:
    """Progress of ``scan_many``, passed to its ``on_progress`` callback after every result.

    ``total`` is None while the input iterable has not been exhausted.
    """

    total: int | None
    completed: int
    failed: int
    in_flight: int
    last: ScanResult | None = None

    def __str__(self) -> str:
        """One line (``on_progress=print``): the counts and the last result.

        Example:
            >>> print(ScanProgress(total=None, completed=2, failed=1, in_flight=3))
            2/? done, 1 failed, 3 in flight
        """
        total = "?" if self.total is None else str(self.total)
        parts = [f"{self.completed}/{total} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.in_flight:
            parts.append(f"{self.in_flight} in flight")
        text = ", ".join(parts)
        return text if self.last is None else f"{text}; last: {self.last}"


def _one_line(text: str, limit: int = 300) -> str:
    # One terminal line whatever the text holds (control characters shown escaped).
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reason_of(result: ScanResult) -> str | None:
    error = result.error
    if error is not None:
        message = getattr(error, "message", None) or str(error)
        name = type(error).__name__
        return _one_line(f"{name}: {message}" if message else name)
    scan = result.scan
    if scan is None or scan.eval_outcome != EvalOutcome.ERROR:
        return None
    code = getattr(scan.error_code, "value", scan.error_code)
    message = scan.error_message or "the service gave no reason"
    return _one_line(f"{code}: {message}" if code else message)


def _result_line(result: ScanResult) -> str:
    reason = result.reason
    outcome = "ERROR" if reason is not None else getattr(result.outcome, "value", result.outcome)
    text = f"{_one_line(result.target)}: {outcome or 'no scan'}"
    if result.violations:
        n = len(result.violations)
        text += f", {n} violation{'s' if n != 1 else ''}"
    if reason is not None:
        text += f" ({reason})"
    if result.scan is not None:
        text += f" [scan {result.scan.uuid}]"
    return text


def _scan_local(
    text: str,
    allow_patterns: Sequence[str] | None,
    ignore_patterns: Sequence[str] | None,
) -> tuple[str, ScanDetails]:
    """Check, resolve and scan a local path (runs in a worker thread: all of it is file I/O)."""
    # Lazy import: the SDK never imports the scanner unless a local scan is asked for.
    from modelsec.scanner import scan_path

    path = Path(text)
    if not path.exists():
        raise PayloadError(f"no such file or directory: {text}")
    details = scan_path(path, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns)
    return str(path.resolve()), details


def _labels_with(labels: LabelsArg | None, request_id: str | None) -> list[Label] | None:
    items = [] if labels is None else check_labels(labels, allow_empty=True)
    if request_id is not None:
        items = [lb for lb in items if lb.key != IDEMPOTENCY_LABEL]
        items.append(Label(key=IDEMPOTENCY_LABEL, value=request_id))
    return items or None


class _ScanJob:
    """Everything one target needs; shared by ``scan`` and ``scan_many``."""

    def __init__(
        self,
        client: AsyncModelSecurityClient,
        *,
        security_group_uuid: str,
        wait: bool,
        timeout: float | None,
        poll_interval: float | None,
        model_name: str | None,
        model_author: str | None,
        model_version: str | None,
        allow_patterns: Sequence[str] | None,
        ignore_patterns: Sequence[str] | None,
        labels: LabelsArg | None,
        reconcile: bool,
        errors_as_results: bool = False,
        create_attempts: int = 8,
        read_attempts: int = 8,
    ) -> None:
        self.client = client
        self.security_group_uuid = security_group_uuid
        self.wait = wait
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.model_name = model_name
        self.model_author = model_author
        self.model_version = model_version
        self.allow_patterns = allow_patterns
        self.ignore_patterns = ignore_patterns
        self.labels = labels
        self.reconcile = reconcile
        self.errors_as_results = errors_as_results
        self.create_attempts = create_attempts
        self.read_attempts = read_attempts

    async def run(self, target: Target, index: int) -> ScanResult:
        text = os.fspath(target)
        details: ScanDetails | None = None
        if _is_remote(text):
            model_uri = text
            allow, ignore = self.allow_patterns, self.ignore_patterns
        else:
            model_uri, details = await anyio.to_thread.run_sync(
                _scan_local, text, self.allow_patterns, self.ignore_patterns
            )
            # The patterns were applied by our scanner; the service ignores them for LOCAL.
            allow, ignore = None, None
        scan = await self._create(model_uri, details, allow, ignore)
        try:
            if self.wait and not scan.is_settled:
                scan = await self.client.scans.wait(
                    scan.uuid, timeout=self.timeout, poll_interval=self.poll_interval
                )
            violations: list[Violation] = []
            # BLOCKED always has violations; an ALLOWED scan has some too when ALLOWING rules
            # failed (they record findings without blocking).
            rules_failed = scan.eval_summary.rules_failed if scan.eval_summary else 0
            if scan.eval_outcome == EvalOutcome.BLOCKED or rules_failed:
                scan_uuid = scan.uuid
                violations = await self._read(
                    lambda: self.client.scans.get_violations(scan_uuid).to_list()
                )
        except Exception as exc:
            if not self.errors_as_results:
                raise
            # The scan exists on the service: keep it (its uuid, its last state) with the
            # error, so that nothing about it is lost.
            last = exc.last if isinstance(exc, WaitTimeoutError) and exc.last else scan
            return ScanResult(target=text, index=index, scan=last, error=exc, scan_details=details)
        return ScanResult(
            target=text, index=index, scan=scan, violations=violations, scan_details=details
        )

    async def _create(
        self,
        model_uri: str,
        details: ScanDetails | None,
        allow: Sequence[str] | None,
        ignore: Sequence[str] | None,
    ) -> Scan:
        request_id = _uuid.uuid4().hex if self.reconcile else None
        labels = _labels_with(self.labels, request_id)
        attempt = 0
        while True:
            try:
                return await self.client.scans.create(
                    model_uri=model_uri,
                    security_group_uuid=self.security_group_uuid,
                    model_name=self.model_name,
                    model_author=self.model_author,
                    model_version=self.model_version,
                    allow_patterns=allow,
                    ignore_patterns=ignore,
                    labels=labels,
                    scan_details=details,
                )
            except (APIConnectionError, APIStatusError) as exc:
                if request_id is None or not _outcome_unknown(exc):
                    raise
                attempt += 1
                found = await self._find(request_id)
                if found is not None:
                    log.info(
                        "create of %s had an unknown outcome; found scan %s", model_uri, found.uuid
                    )
                    return found
                if attempt >= self.create_attempts:
                    raise
                # Proven absent: sending again cannot duplicate it.
                transport = self.client._transport
                await transport.sleep(transport.retry.delay(attempt - 1, rand=transport.rand))

    async def _find(self, request_id: str) -> Scan | None:
        query = f"{IDEMPOTENCY_LABEL}:{request_id}"
        page = await self._read(lambda: self.client.scans.list(labels_query=query, limit=2))
        return page.scans[0] if page.scans else None

    async def _read(self, fetch: Callable[[], Awaitable[T]]) -> T:
        """A read (idempotent) that outlives transient failures beyond the request's retries.

        A batch cannot afford to lose a verdict, or the proof that a create did not happen,
        to a burst of faults: such reads are tried again with backoff a few more times.
        """
        transport = self.client._transport
        for attempt in range(self.read_attempts):
            try:
                return await fetch()
            except TRANSIENT_ERRORS as exc:
                if attempt + 1 >= self.read_attempts:
                    raise
                log.info("read failed (%s); trying again", exc)
                await transport.sleep(transport.retry.delay(attempt, rand=transport.rand))
        raise AssertionError("unreachable")  # pragma: no cover


def _outcome_unknown(exc: BaseException) -> bool:
    """Whether the service may have acted on a create that failed this way."""
    if isinstance(exc, RateLimitError):
        return False  # refused before acting
    if isinstance(exc, APIStatusError):
        return exc.status_code >= 500 or exc.status_code == 408
    return isinstance(exc, APIConnectionError)


async def scan_one(
    client: AsyncModelSecurityClient,
    target: Target,
    *,
    security_group_uuid: str,
    wait: bool = True,
    timeout: float | None = 600.0,
    poll_interval: float | None = None,
    model_name: str | None = None,
    model_author: str | None = None,
    model_version: str | None = None,
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
    labels: LabelsArg | None = None,
    reconcile: bool = True,
) -> ScanResult:
    """Implementation of ``AsyncModelSecurityClient.scan`` (errors raise)."""
    job = _ScanJob(
        client,
        security_group_uuid=security_group_uuid,
        wait=wait,
        timeout=timeout,
        poll_interval=poll_interval,
        model_name=model_name,
        model_author=model_author,
        model_version=model_version,
        allow_patterns=allow_patterns,
        ignore_patterns=ignore_patterns,
        labels=labels,
        reconcile=reconcile,
    )
    return await job.run(target, 0)


async def scan_many(
    client: AsyncModelSecurityClient,
    targets: Iterable[Target],
    *,
    security_group_uuid: str,
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
) -> AsyncIterator[ScanResult]:
    """Implementation of ``AsyncModelSecurityClient.scan_many``."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise PayloadError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    if labels is not None:
        check_labels(labels, allow_empty=True)
    job = _ScanJob(
        client,
        security_group_uuid=security_group_uuid,
        wait=wait,
        timeout=timeout,
        poll_interval=poll_interval,
        model_name=model_name,
        model_author=model_author,
        model_version=model_version,
        allow_patterns=allow_patterns,
        ignore_patterns=ignore_patterns,
        labels=labels,
        reconcile=True,
        errors_as_results=True,
    )
    source = enumerate(iter(targets))
    results: asyncio.Queue[ScanResult | None] = asyncio.Queue()
    taken = completed = failed = 0
    exhausted = False

    async def worker() -> None:
        nonlocal taken, exhausted
        while True:
            try:
                index, target = next(source)
            except StopIteration:
                exhausted = True
                return
            taken += 1
            try:
                result = await job.run(target, index)
            except Exception as exc:  # every input yields exactly one result
                result = ScanResult(target=os.fspath(target), index=index, error=exc)
            await results.put(result)

    async def run_workers() -> None:
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            results.put_nowait(None)  # tells the consumer there is nothing more

    runner = asyncio.ensure_future(run_workers())
    try:
        while (result := await results.get()) is not None:
            completed += 1
            failed += result.is_error
            if on_progress is not None:
                on_progress(
                    ScanProgress(
                        total=taken if exhausted else None,
                        completed=completed,
                        failed=failed,
                        in_flight=taken - completed,
                        last=result,
                    )
                )
            yield result
        await runner  # surfaces an unexpected failure of the machinery itself
    finally:
        # Stop new work and leave no task behind, also when the consumer stops early or is
        # cancelled.
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
