"""What a scan of one target ends in (:class:`ScanResult`), batch progress, and targets.

Shared by :func:`client.scan <modelsec.client.AsyncModelSecurityClient.scan>` and
``scan_many`` (:mod:`modelsec.workflows`, :mod:`modelsec.batch`); importable from
:mod:`modelsec.workflows` and :mod:`modelsec` as before.

Example:
    >>> source_type_of("gs://bucket/models/bert").value
    'GCS'
"""

from __future__ import annotations

import os
import re
from typing import Union

import attrs

from modelsec.types import EvalOutcome, Scan, ScanDetails, SourceType, Violation

__all__ = ["ScanProgress", "ScanResult", "Target", "source_type_of"]

Target = Union[str, "os.PathLike[str]"]

_REMOTE_SCHEMES = ("hf://", "s3://", "gs://", "az://", "https://", "http://")


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
    if re.match(r"^https?://", lowered) and "/-/ml/models/" in lowered:
        return SourceType.GITLAB
    # Object storage the client reads itself (modelsec.sources): az://, Artifactory paths.
    if lowered.startswith("az://"):
        return SourceType.AZURE
    if re.match(r"^https?://[^/]+/artifactory/", lowered):
        return SourceType.ARTIFACTORY
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
        scan_details: what the local scanner found, for local targets (None when the result
            comes from a journal).
        duplicates: uuids of other scans that carry this target's idempotency label: a create
            whose outcome was unknown and that reached the service only after the reconcile
            window, when it had been sent again (see :mod:`modelsec.reconcile`). Empty when
            the service holds exactly one scan for the target.
        from_journal: the result was read from ``scan_many``'s journal (settled in an earlier
            run); no request was made for it.

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
    duplicates: list[str] = attrs.field(factory=list)
    from_journal: bool = False

    @property
    def outcome(self) -> EvalOutcome | str | None:
        """The scan's ``eval_outcome``, or None when no scan was created."""
        return None if self.scan is None else self.scan.eval_outcome

    @property
    def is_allowed(self) -> bool:
        """The scan settled ALLOWED and judged at least one file (see :attr:`nothing_judged`)."""
        allowed = self.error is None and self.outcome == EvalOutcome.ALLOWED
        return allowed and not self.nothing_judged

    @property
    def nothing_judged(self) -> bool:
        """No file of the target was judged, so an ALLOWED verdict proves nothing.

        Local targets: no file of ``scan_details`` was SCANNED (an empty directory, only
        non-model files, content the scanner could not identify). Remote targets: the settled
        scan reports ``total_files_scanned == 0``. ``is_allowed`` is then False whatever the
        outcome; ``modelsec scan`` reports an ERROR (exit 2) unless ``--allow-empty``.

        Example:
            >>> ScanResult(target="hf://org/model").nothing_judged  # no scan yet: not known
            False
        """
        if self.scan_details is not None:
            return all(f.modelscan_status != "SCANNED" for f in self.scan_details.files)
        scan = self.scan
        return scan is not None and scan.is_settled and scan.total_files_scanned == 0

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
