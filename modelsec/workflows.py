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
with ``labels_query`` through a reconcile window (a create still in flight may land late) and
sends the create again only when no scan carries it after the window
(:mod:`modelsec.reconcile`). The label stays on the scan (useful for audits: it ties a scan to
the batch entry that made it). With ``journal=PATH`` a batch is resumable after a crash
(:mod:`modelsec.journal`).
"""

from __future__ import annotations

import logging
import os
import time
import uuid as _uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
import attrs

from modelsec.core.polling import TRANSIENT_ERRORS
from modelsec.errors import (
    AISecSDKException,
    APIConnectionError,
    APIStatusError,
    PayloadError,
    RateLimitError,
    WaitTimeoutError,
)
from modelsec.journal import Journal, JournalEntry, JournalError
from modelsec.reconcile import IDEMPOTENCY_LABEL, default_window, find_by_label, look_until
from modelsec.resources._validate import LabelsArg, check_labels
from modelsec.results import ScanProgress, ScanResult, Target, _is_remote, source_type_of
from modelsec.types import (
    EvalOutcome,
    Label,
    Scan,
    ScanDetails,
    Violation,
)

if TYPE_CHECKING:
    from modelsec.client import AsyncModelSecurityClient
    from modelsec.fleet import ExecutorLike

__all__ = [
    "IDEMPOTENCY_LABEL",
    "JournalError",
    "ScanProgress",
    "ScanResult",
    "Target",
    "source_type_of",
]

log = logging.getLogger("modelsec.batch")

T = TypeVar("T")


def _scan_local(
    text: str,
    allow_patterns: Sequence[str] | None,
    ignore_patterns: Sequence[str] | None,
    download_dir: str | None = None,
    target_python: tuple[str, ...] | None = None,
) -> tuple[str, ScanDetails]:
    """Check, resolve and scan a local path, or read and scan a model in object storage or a
    registry (runs in a worker thread: all of it is blocking I/O). Returns the ``model_uri``
    (a storage URI as given) and the ``scan_details``. ``target_python`` is resolved by the
    caller, so a remote worker judges for the caller's interpreter, not its own."""
    # Lazy imports: the SDK never imports the scanner unless a client-side scan is asked for.
    from modelsec.sources.uri import is_storage_uri

    if is_storage_uri(text):
        from modelsec.sources import scan_uri

        details = scan_uri(
            text,
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
            download_dir=download_dir,
            target_python=target_python,
        )
        return text, details
    from modelsec.scanner import scan_path

    path = Path(text)
    if not path.exists():
        raise PayloadError(f"no such file or directory: {text}")
    details = scan_path(
        path,
        allow_patterns=allow_patterns,
        ignore_patterns=ignore_patterns,
        target_python=target_python,
    )
    return str(path.resolve()), details


def _labels_with(labels: LabelsArg | None, request_id: str | None) -> list[Label] | None:
    items = [] if labels is None else check_labels(labels, allow_empty=True)
    if request_id is not None:
        items = [lb for lb in items if lb.key != IDEMPOTENCY_LABEL]
        items.append(Label(key=IDEMPOTENCY_LABEL, value=request_id))
    return items or None


@attrs.frozen(kw_only=True)
class _Created:
    """A create's scan; ``resent``: the create was sent more than once (duplicates possible)."""

    scan: Scan
    request_id: str | None
    resent: bool = False
    duplicates: list[str] = attrs.field(factory=list)


class _ScanJob:
    """Everything one target needs; shared by ``scan`` and ``scan_many``."""

    def __init__(
        self,
        client: AsyncModelSecurityClient,
        *,
        security_group_uuid: str | None,
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
        reconcile_window: float | None = None,
        journal: Journal | None = None,
        download_dir: str | None = None,
        executor: ExecutorLike | None = None,
        target_python: tuple[str, ...] | None = None,
    ) -> None:
        from modelsec.fleet import Dispatcher

        # Where the read + scan of local targets runs (threads here by default; modelsec.fleet).
        self.dispatcher = Dispatcher(executor)
        self.download_dir = download_dir
        self.target_python = target_python
        self._default_groups: dict[str, str] = {}
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
        self.reconcile_window = reconcile_window
        self.journal = journal

    async def run(
        self, target: Target, index: int, entry: JournalEntry | None = None
    ) -> ScanResult:
        text = os.fspath(target)
        resumed = None if entry is None else await self._resume(entry)
        if resumed is not None:
            return await self._settle(text, index, resumed, None)
        details: ScanDetails | None = None
        group = self.security_group_uuid or await self._default_group(text)
        if _is_remote(text) and not _is_storage(text):
            model_uri = text
            allow, ignore = self.allow_patterns, self.ignore_patterns
        else:
            pythons = self.target_python
            if pythons is None:  # this interpreter's, even when a worker elsewhere scans
                from modelsec.scanner.interpreters import running_python

                pythons = (running_python(),)
            model_uri, details = await self.dispatcher.run(
                _scan_local,
                text,
                self.allow_patterns,
                self.ignore_patterns,
                self.download_dir,
                pythons,
                label=text,
            )
            # The patterns were applied by our scanner; the service ignores them for LOCAL.
            allow, ignore = None, None
        created = await self._create(
            model_uri, details, allow, ignore, text=text, index=index, entry=entry, group=group
        )
        return await self._settle(text, index, created, details)

    async def _settle(
        self, text: str, index: int, created: _Created, details: ScanDetails | None
    ) -> ScanResult:
        """Wait for the verdict, fetch the violations, look for duplicates."""
        scan = created.scan
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
            return ScanResult(
                target=text,
                index=index,
                scan=last,
                error=exc,
                scan_details=details,
                duplicates=await self._duplicates(created, scan.uuid),
            )
        return ScanResult(
            target=text,
            index=index,
            scan=scan,
            violations=violations,
            scan_details=details,
            duplicates=await self._duplicates(created, scan.uuid),
        )

    def window(self) -> float:
        """Seconds to keep looking for a create of unknown outcome before sending it again."""
        if self.reconcile_window is not None:
            return self.reconcile_window
        transport = self.client._transport
        return default_window(transport._timeouts(self.client._options.timeout))

    async def _note(self, event: dict[str, Any]) -> None:
        """Append an event to the journal, durably, before going on."""
        if self.journal is not None:
            await anyio.to_thread.run_sync(self.journal.record, event)

    async def _resume(self, entry: JournalEntry) -> _Created | None:
        """The scan an earlier run of the batch made for this target, if it made one.

        None: nothing was sent, or what was sent did not reach the service within the
        reconcile window (then ``entry.request_id`` is sent again).
        """
        rid = entry.request_id
        if entry.scan_uuid is not None:
            scan_uuid = entry.scan_uuid
            scan = await self._read(lambda: self.client.scans.get(scan_uuid))
            return _Created(scan=scan, request_id=rid, resent=rid is not None)
        if rid is None:
            return None
        # The earlier run may have died with its create in flight: look until the create's
        # own window, counted from when it was sent, has passed.
        left = (entry.sent_at or 0.0) + self.window() - time.time()
        until = self.client._transport.clock() + max(0.0, left)
        found = await look_until(self.client, rid, until, self._read)
        if not found:
            return None
        await self._note({"event": "created", "index": entry.index, "scan_uuid": found[0].uuid})
        return _Created(
            scan=found[0],
            request_id=rid,
            resent=True,
            duplicates=[s.uuid for s in found[1:]],
        )

    async def _create(
        self,
        model_uri: str,
        details: ScanDetails | None,
        allow: Sequence[str] | None,
        ignore: Sequence[str] | None,
        *,
        text: str,
        index: int,
        entry: JournalEntry | None = None,
        group: str | None = None,
    ) -> _Created:
        reused = entry is not None and entry.request_id is not None
        request_id = (
            entry.request_id
            if entry is not None and entry.request_id is not None
            else (_uuid.uuid4().hex if self.reconcile else None)
        )
        labels = _labels_with(self.labels, request_id)
        sends = 1 if reused else 0
        while True:
            # Durable before the create leaves: a crash after this line is reconciled by label.
            await self._note(
                {
                    "event": "start",
                    "index": index,
                    "target": text,
                    "request_id": request_id,
                    "time": time.time(),
                }
            )
            sends += 1
            try:
                scan = await self.client.scans.create(
                    model_uri=model_uri,
                    security_group_uuid=group or str(self.security_group_uuid),
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
                    if sends == 1:
                        # Refused (4xx, 429) and never sent before under this label: nothing
                        # for a rerun to reconcile.
                        await self._note({"event": "unsent", "index": index, "target": text})
                    raise
                # An empty lookup right after the failure proves nothing: a gateway may still
                # hold the request. Look until its window has passed.
                window = self.window()
                until = self.client._transport.clock() + window
                found = await look_until(self.client, request_id, until, self._read)
                if found:
                    log.info(
                        "create of %s had an unknown outcome; found scan %s",
                        model_uri,
                        found[0].uuid,
                    )
                    await self._note(
                        {"event": "created", "index": index, "scan_uuid": found[0].uuid}
                    )
                    return _Created(
                        scan=found[0],
                        request_id=request_id,
                        resent=sends > 1,
                        duplicates=[s.uuid for s in found[1:]],
                    )
                if sends >= self.create_attempts:
                    raise
                # Not there a whole window after the failure: sending again cannot duplicate
                # it unless the first one reaches the service even later (then it is reported).
                log.info(
                    "create of %s had an unknown outcome and no scan carries its label %.1f s "
                    "later; sending it again",
                    model_uri,
                    window,
                )
                continue
            await self._note({"event": "created", "index": index, "scan_uuid": scan.uuid})
            return _Created(scan=scan, request_id=request_id, resent=sends > 1)

    async def _duplicates(self, created: _Created, scan_uuid: str) -> list[str]:
        """Other scans with this target's label, when the create was sent more than once."""
        found = list(created.duplicates)
        if created.resent and created.request_id is not None:
            try:
                scans = await find_by_label(self.client, created.request_id, self._read)
            except AISecSDKException as exc:  # the verdict matters more than this check
                log.warning("could not look for duplicates of scan %s: %s", scan_uuid, exc)
                scans = []
            found += [s.uuid for s in scans if s.uuid != scan_uuid and s.uuid not in found]
        if found:
            log.warning(
                "scan %s has duplicates %s: a create reached the service after its reconcile "
                "window",
                scan_uuid,
                ", ".join(found),
            )
        return found

    async def _default_group(self, target: str) -> str:
        """The ``Default <SOURCE_TYPE>`` group of the target's source (cached per job)."""
        st = source_type_of(target).value
        if st not in self._default_groups:
            name = f"Default {st}"
            page = await self._read(
                lambda: self.client.security_groups.list(
                    search_query=name, source_types=[st], limit=100
                )
            )
            found = [g.uuid for g in page.security_groups if g.name == name]
            if len(found) != 1:
                raise PayloadError(
                    f"no single security group named {name!r}; pass security_group_uuid"
                )
            self._default_groups[st] = found[0]
        return self._default_groups[st]

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


def _is_storage(target: str) -> bool:
    from modelsec.sources.uri import is_storage_uri

    return is_storage_uri(target)


def _outcome_unknown(exc: BaseException) -> bool:
    """Whether the service may have acted on a create that failed this way."""
    if isinstance(exc, RateLimitError):
        return False  # refused before acting
    if isinstance(exc, APIStatusError):
        return exc.status_code >= 500 or exc.status_code == 408
    return isinstance(exc, APIConnectionError)


def _check_window(reconcile_window: float | None) -> None:
    if reconcile_window is not None and (
        isinstance(reconcile_window, bool)
        or not isinstance(reconcile_window, (int, float))
        or not reconcile_window >= 0
    ):
        raise PayloadError(
            f"reconcile_window must be a number of seconds >= 0, got {reconcile_window!r}"
        )


def _check_target_python(spec: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``target_python`` normalised (``None`` stays ``None``); a bad one is a PayloadError."""
    if spec is None:
        return None
    from modelsec.scanner.interpreters import parse_target_python

    try:
        return parse_target_python(spec)
    except ValueError as exc:
        raise PayloadError(str(exc)) from None


async def scan_one(
    client: AsyncModelSecurityClient,
    target: Target,
    *,
    security_group_uuid: str | None,
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
    reconcile_window: float | None = None,
    download_dir: str | None = None,
    executor: ExecutorLike | None = None,
    target_python: str | Sequence[str] | None = None,
) -> ScanResult:
    """Implementation of ``AsyncModelSecurityClient.scan`` (errors raise)."""
    _check_window(reconcile_window)
    pythons = _check_target_python(target_python)
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
        reconcile_window=reconcile_window,
        download_dir=download_dir,
        executor=executor,
        target_python=pythons,
    )
    try:
        return await job.run(target, 0)
    finally:
        job.dispatcher.close()


def __getattr__(name: str) -> Any:
    # ``scan_many`` lives in modelsec.batch (which imports this module); it stays importable
    # from here, where it has always been.
    if name == "scan_many":
        from modelsec.batch import scan_many

        return scan_many
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
