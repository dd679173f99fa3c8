"""``scan_many``: a batch of targets with bounded concurrency, optionally resumable.

The per-target work (local scan, exactly-once create, wait, violations) is
:class:`modelsec.workflows._ScanJob`'s; this module runs many of them, yields one result per
input, and keeps the journal (:mod:`modelsec.journal`) of a resumable batch. Called through
``AsyncModelSecurityClient.scan_many``.

Example:
    >>> async def example(client):
    ...     async for result in client.scan_many(uris, security_group_uuid=group_uuid,
    ...                                         journal="batch.jsonl"):
    ...         print(result.index, result.outcome or result.error)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import attrs

from modelsec.errors import PayloadError
from modelsec.journal import Journal, JournalEntry, JournalError
from modelsec.resources._validate import LabelsArg, check_labels
from modelsec.types import Scan, Violation
from modelsec.types._base import converter, structure
from modelsec.workflows import (
    ScanProgress,
    ScanResult,
    Target,
    _check_target_python,
    _check_window,
    _ScanJob,
)

if TYPE_CHECKING:
    from modelsec.client import AsyncModelSecurityClient
    from modelsec.fleet import ExecutorLike

__all__ = ["scan_many"]


def _from_journal(entry: JournalEntry) -> ScanResult:
    """A target settled in an earlier run, as its ``done`` event recorded it."""
    done = entry.done or {}
    return ScanResult(
        target=entry.target,
        index=entry.index,
        scan=structure(done["scan"], Scan),
        violations=[structure(v, Violation) for v in done.get("violations") or []],
        duplicates=list(done.get("duplicates") or []),
        from_journal=True,
    )


def _final_event(result: ScanResult) -> dict[str, Any]:
    """The journal event that ends a target: ``done`` (settled) or ``error`` (tried again)."""
    if result.error is None and result.scan is not None:
        return {
            "event": "done",
            "index": result.index,
            "target": result.target,
            "scan": converter.unstructure(result.scan),
            "violations": [converter.unstructure(v) for v in result.violations],
            "duplicates": result.duplicates,
        }
    return {
        "event": "error",
        "index": result.index,
        "target": result.target,
        "error": f"{type(result.error).__name__}: {result.error}",
    }


def _text_of(target: Any) -> str:
    try:
        return str(os.fspath(target))
    except TypeError:
        return repr(target)


async def scan_many(
    client: AsyncModelSecurityClient,
    targets: Iterable[Target],
    *,
    security_group_uuid: str | None,
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
    download_dir: str | None = None,
    executor: ExecutorLike | None = None,
    target_python: str | Sequence[str] | None = None,
) -> AsyncIterator[ScanResult]:
    """Implementation of ``AsyncModelSecurityClient.scan_many``.

    If iterating ``targets`` raises (or the journal refuses an input), no further input is
    taken, the inputs already taken run to their end and their results are yielded, then the
    exception is raised unchanged; no task is left running once it reaches the caller.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise PayloadError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    checked = None if labels is None else check_labels(labels, allow_empty=True)
    _check_window(reconcile_window)
    pythons = _check_target_python(target_python)
    opened: Journal | None = None
    if journal is not None:
        definition = {
            "security_group_uuid": security_group_uuid,
            "wait": wait,
            "model_name": model_name,
            "model_author": model_author,
            "model_version": model_version,
            "allow_patterns": None if allow_patterns is None else list(allow_patterns),
            "ignore_patterns": None if ignore_patterns is None else list(ignore_patterns),
            "labels": sorted([lb.key, lb.value] for lb in checked or []),
        }
        if pythons is not None:  # verdicts depend on it; absent: this interpreter's
            definition["target_python"] = list(pythons)
        opened = await anyio.to_thread.run_sync(Journal.open, journal, definition)
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
        reconcile_window=reconcile_window,
        journal=opened,
        download_dir=download_dir,
        executor=executor,
        target_python=pythons,
    )
    source = enumerate(iter(targets))
    results: asyncio.Queue[ScanResult | None] = asyncio.Queue()
    taken = completed = failed = 0
    exhausted = False
    input_error: Exception | None = None

    def take() -> tuple[int, Target, JournalEntry | None] | None:
        """The next input, or None once the input is exhausted or has failed."""
        nonlocal taken, exhausted, input_error
        if exhausted or input_error is not None:
            return None
        try:
            index, target = next(source)
            entry = None if opened is None else opened.check_target(index, _text_of(target))
        except StopIteration:
            exhausted = True
            if opened is not None:
                try:
                    opened.check_total(taken)
                except JournalError as exc:
                    input_error = exc
            return None
        except Exception as exc:  # the caller's iterable failed: stop taking, finish the rest
            input_error = exc
            return None
        taken += 1
        return index, target, entry

    async def worker() -> None:
        while (item := take()) is not None:
            index, target, entry = item
            try:
                if entry is not None and entry.done is not None:
                    result = _from_journal(entry)
                else:
                    result = await job.run(target, index, entry)
            except Exception as exc:  # every input yields exactly one result
                result = ScanResult(target=_text_of(target), index=index, error=exc)
            if opened is not None and not result.from_journal:
                try:
                    await job._note(_final_event(result))
                except Exception as exc:  # keep the scan; say that it is not on record
                    result = attrs.evolve(result, error=exc)
            results.put_nowait(result)

    tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]

    async def run_workers() -> None:
        try:
            await asyncio.gather(*tasks)
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
        if input_error is not None:
            raise input_error
    finally:
        # Stop new work and leave no task behind, also when the consumer stops early, is
        # cancelled, or the input failed: every worker is cancelled and awaited here.
        for task in (*tasks, runner):
            task.cancel()
        await asyncio.gather(*tasks, runner, return_exceptions=True)
        job.dispatcher.close()
        if opened is not None:
            opened.close()
