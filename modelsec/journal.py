"""The append-only journal of a resumable batch (``scan_many(..., journal=PATH)``).

One JSON object per line, each line written with a single ``write`` and ``fsync``'d before
the batch goes on, so that whatever a crash (or ``kill -9``) interrupts, the file tells what
may have happened:

=========  ==================================================================================
event      written
=========  ==================================================================================
batch      first line: the batch definition (security group, labels, patterns, model fields,
           ``wait``); a journal of another definition is refused with :class:`JournalError`
start      right BEFORE a create is sent: target index and text, its idempotency label value
           (``request_id``) and the wall-clock time
unsent     the create was refused (4xx, 429) and its label never sent before: nothing to
           reconcile on a rerun
created    when the create's scan is known: its ``scan_uuid``
done       the settled result: the scan, its violations, any duplicates
error      a target that ended in an error (for the record; it is tried again on a rerun)
=========  ==================================================================================

Targets are identified by ``(index, target text)``: their position in the input and the path
or URI as given. A rerun whose input differs at an index that the journal knows, or ends
before the journal's last index, is refused. Only the last line may be torn (a crash in the
middle of a write): it is ignored and cut off before anything is appended; any other line
that is not valid JSON makes the journal unusable (:class:`JournalError`). While a batch runs
its journal is locked (``flock``, POSIX), so two processes cannot write one journal.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "batch.jsonl")
    >>> j = Journal.open(path, {"security_group_uuid": "g"})
    >>> j.record({"event": "start", "index": 0, "target": "hf://a/b", "request_id": "r1",
    ...           "time": 1.0})
    >>> j.close()
    >>> Journal.open(path, {"security_group_uuid": "g"}).entries[0].request_id
    'r1'
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from modelsec.errors import PayloadError

try:  # advisory locking where the platform has it
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["JOURNAL_VERSION", "Journal", "JournalEntry", "JournalError"]

JOURNAL_VERSION = 1


class JournalError(PayloadError):
    """A journal that cannot serve this batch: another batch's, corrupt, or in use.

    Raised before any request for the targets it concerns.

    Example:
        >>> raise JournalError("journal x.jsonl belongs to another batch")
        Traceback (most recent call last):
        modelsec.journal.JournalError: journal x.jsonl belongs to another batch
    """


@attrs.define
class JournalEntry:
    """What the journal knows about one target.

    ``request_id`` and ``sent_at`` come from the last ``start`` (a create may have been sent),
    ``scan_uuid`` from ``created``, ``done`` is the settled result's record.
    """

    index: int
    target: str
    request_id: str | None = None
    sent_at: float | None = None
    scan_uuid: str | None = None
    done: dict[str, Any] | None = None


def _normalize(definition: Mapping[str, Any]) -> Any:
    # Through JSON, so that tuples and lists compare equal and the comparison is exactly what
    # a rerun will read back.
    return json.loads(json.dumps(definition, sort_keys=True))


class Journal:
    """An open journal: the entries read from it, and :meth:`record` to append an event."""

    def __init__(self, path: Path, fd: int, definition: Any) -> None:
        self.path = path
        self.definition = definition
        self.entries: dict[int, JournalEntry] = {}
        self._fd: int | None = fd
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | os.PathLike[str], definition: Mapping[str, Any]) -> Journal:
        """Open (or create) the journal at ``path`` for a batch of ``definition``.

        Raises:
            JournalError: the journal belongs to another batch definition, is corrupt, cannot
                be opened, or another process is writing it.
        """
        p = Path(path)
        wanted = _normalize(definition)
        try:
            fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise JournalError(f"journal {p}: {exc.strerror or exc}") from exc
        journal = cls(p, fd, wanted)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise JournalError(
                        f"journal {p} is in use by another batch (locked); one batch per journal"
                    ) from None
            journal._load()
        except BaseException:
            journal.close()
            raise
        return journal

    def _load(self) -> None:
        assert self._fd is not None
        with open(self._fd, "rb", closefd=False) as f:
            f.seek(0)
            data = f.read()
        complete, _, torn = data.rpartition(b"\n")
        if torn:
            # A crash in the middle of the last write: that event never happened (nothing is
            # sent before its event is durable). Cut it off so the next event starts a line.
            os.ftruncate(self._fd, len(complete) + 1 if complete else 0)
        lines = complete.split(b"\n") if complete else []
        if not lines:
            header = {"event": "batch", "version": JOURNAL_VERSION, "definition": self.definition}
            self._write(header)
            self._sync_dir()
            return
        for number, raw in enumerate(lines, 1):
            try:
                event = json.loads(raw)
                if not isinstance(event, dict):
                    raise ValueError("not an object")
            except ValueError:
                raise JournalError(
                    f"journal {self.path}: line {number} is not a JSON object; "
                    "the journal is corrupt"
                ) from None
            if number == 1:
                self._check_header(event)
            else:
                self._apply(event, number)

    def _check_header(self, event: dict[str, Any]) -> None:
        if event.get("event") != "batch" or event.get("version") != JOURNAL_VERSION:
            raise JournalError(f"journal {self.path}: not a modelsec batch journal (version 1)")
        theirs = event.get("definition")
        if theirs != self.definition:
            absent = object()  # a key only one side has differs even when the other is None
            keys = sorted(
                k
                for k in set(self.definition) | set(theirs or {})
                if (theirs or {}).get(k, absent) != self.definition.get(k, absent)
            )
            raise JournalError(
                f"journal {self.path} belongs to another batch (different {', '.join(keys)}); "
                "use a new journal file for a new batch"
            )

    def _apply(self, event: dict[str, Any], number: int) -> None:
        kind = event.get("event")
        index = event.get("index")
        if not isinstance(index, int):
            raise JournalError(f"journal {self.path}: line {number} has no target index")
        entry = self.entries.get(index)
        target = event.get("target")
        if entry is None:
            if not isinstance(target, str):
                raise JournalError(f"journal {self.path}: line {number} has no target")
            entry = self.entries[index] = JournalEntry(index=index, target=target)
        elif target is not None and target != entry.target:
            raise JournalError(f"journal {self.path}: line {number} names another target")
        if kind == "start":
            entry.request_id = event.get("request_id")
            entry.sent_at = event.get("time")
        elif kind == "unsent":
            entry.request_id = entry.sent_at = None
        elif kind == "created":
            entry.scan_uuid = event.get("scan_uuid")
        elif kind == "done":
            entry.done = event

    def check_target(self, index: int, target: str) -> JournalEntry | None:
        """The entry of input ``index``; a different target there refuses the journal.

        Example:
            >>> # journal.check_target(0, "hf://org/model") -> JournalEntry(...) or None

        Raises:
            JournalError: the journal has another target at ``index``.
        """
        entry = self.entries.get(index)
        if entry is not None and entry.target != target:
            raise JournalError(
                f"journal {self.path} belongs to another batch: input {index} is "
                f"{target!r} here but {entry.target!r} in the journal"
            )
        return entry

    def check_total(self, total: int) -> None:
        """At the end of the input: the journal must not know targets past it.

        Raises:
            JournalError: the journal has targets beyond the input's ``total``.
        """
        beyond = [i for i in self.entries if i >= total]
        if beyond:
            raise JournalError(
                f"journal {self.path} belongs to another batch: it has input {max(beyond)} "
                f"but the input has {total} targets"
            )

    def record(self, event: Mapping[str, Any]) -> None:
        """Append one event and ``fsync`` it (blocking: call it from a worker thread).

        ``entries`` stays what was read at open: a running batch takes each input once, and
        keeping every result in memory would grow with the batch.
        """
        with self._lock:
            fd = self._append(event)
        # Outside the lock: concurrent writers' fsyncs overlap (the file system commits them
        # together), and each caller still returns only after an fsync begun after its write.
        os.fsync(fd)

    def _write(self, event: Mapping[str, Any]) -> None:
        os.fsync(self._append(event))

    def _append(self, event: Mapping[str, Any]) -> int:
        fd = self._fd
        if fd is None:
            raise JournalError(f"journal {self.path} is closed")
        line = json.dumps(event, separators=(",", ":"), sort_keys=True).encode() + b"\n"
        # Lines are whole and in order (one writer at a time, O_APPEND): a crash leaves at most
        # a torn last line.
        written = os.write(fd, line)
        while written < len(line):  # pragma: no cover - short writes on regular files are rare
            written += os.write(fd, line[written:])
        return fd

    def _sync_dir(self) -> None:
        # The new file's directory entry must survive a crash too.
        try:
            dfd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:  # pragma: no cover - platforms without directory fds
            return
        try:
            os.fsync(dfd)
        except OSError:  # pragma: no cover
            pass
        finally:
            os.close(dfd)

    def close(self) -> None:
        """Release the lock and the file (idempotent)."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
