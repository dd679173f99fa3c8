"""Internal accumulation of what the scanner finds in one file.

Parsers never build wire objects directly: they call :class:`FileContext` (add a format, an
issue, an error), and :mod:`modelsec.scanner.api` turns the context into ``FileScanData``.
That keeps the spec's size limits (string lengths, list sizes) enforced in one place.
"""

from __future__ import annotations

from modelsec.scanner.limits import ScanLimits
from modelsec.types.data import ModelScanIssue

__all__ = ["FileContext", "ScanAbort", "clip"]

# Spec limits on the strings we emit (FileScanData / ModelScanIssue).
_DESCRIPTION_MAX = 4096
_SOURCE_MAX = 1024
_NAME_MAX = 256
_FORMATS_MAX = 20
_FORMAT_ITEM_MAX = 256


def clip(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, marking the cut.

    Example:
        >>> clip("abcdef", 4)
        'abc…'
    """
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def printable(text: str, limit: int = 200) -> str:
    """Render an attacker-controlled name safely (escapes control characters), clipped.

    Example:
        >>> printable("os\\nsystem")
        'os\\\\nsystem'
    """
    out = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return clip(out, limit)


class ScanAbort(Exception):
    """Raised inside a parser to stop scanning the current file (a bomb, a hard limit).

    The message becomes an issue; ``threat`` may be ``None`` for resource findings.
    """

    def __init__(self, message: str, *, threat: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.threat = threat


class FileContext:
    """Findings for one top-level file, shared by every parser that looks at it.

    Example:
        >>> ctx = FileContext("model.pkl", ScanLimits())
        >>> ctx.add_issue("imports os.system", "model.pkl", "PAIT-PKL-100", "os", "system")
        >>> len(ctx.issues)
        1
    """

    def __init__(self, file_path: str, limits: ScanLimits) -> None:
        self.file_path = file_path
        self.limits = limits
        self.formats: list[str] = []
        self.issues: list[ModelScanIssue] = []
        self._seen: set[tuple[str, str | None, str | None, str | None]] = set()
        self._dropped = 0
        self.errors: list[str] = []
        #: True once some parser judged the content (SCANNED even if later parts failed).
        self.scanned = False
        #: Decompressed bytes so far, across every layer (bomb accounting).
        self.uncompressed_bytes = 0
        self.archive_members = 0

    def add_format(self, fmt: str) -> None:
        """Record a format identifier (deduplicated, capped at the spec's 20 items)."""
        fmt = clip(fmt, _FORMAT_ITEM_MAX)
        if fmt not in self.formats and len(self.formats) < _FORMATS_MAX:
            self.formats.append(fmt)

    def add_issue(
        self,
        description: str,
        source: str,
        threat: str | None = None,
        module: str | None = None,
        operator: str | None = None,
    ) -> None:
        """Record a finding; identical findings (same threat/module/operator/source) merge."""
        key = (source, threat, module, operator)
        if key in self._seen:
            return
        self._seen.add(key)
        if len(self.issues) >= self.limits.max_issues_per_file:
            self._dropped += 1
            return
        self.issues.append(
            ModelScanIssue(
                description=clip(description, _DESCRIPTION_MAX),
                source=clip(source or self.file_path, _SOURCE_MAX),
                threat=threat,
                module=None if module is None else clip(module, _NAME_MAX),
                operator=None if operator is None else clip(operator, _NAME_MAX),
            )
        )

    def add_error(self, message: str) -> None:
        """Record a parse failure (the file or a member is malformed or unreadable).

        Fail closed: what the scanner could not read, decode or finish is also an issue without
        a threat code, which the default policy blocks (Suspicious Model Components Check). A
        file is never passed on the strength of a parse that did not complete.
        """
        if len(self.errors) < 20:
            self.errors.append(message)
        self.add_issue(f"not fully scanned (fail closed): {message}", self.file_path, None)

    def final_issues(self) -> list[ModelScanIssue]:
        """The issues, plus one summary issue when some were dropped over the cap."""
        out = list(self.issues)
        if self._dropped:
            worst = next((i.threat for i in out if i.threat), None)
            out[-1] = ModelScanIssue(
                description=f"{self._dropped + 1} more findings not listed (per-file cap)",
                source=clip(self.file_path, _SOURCE_MAX),
                threat=worst,
            )
        return out
