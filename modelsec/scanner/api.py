"""The scanner's entry points: :func:`scan_path` and :func:`scan_path_async`."""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO

import anyio.to_thread

from modelsec._version import __version__
from modelsec.errors import AISecSDKException
from modelsec.scanner import cancel as _cancel
from modelsec.scanner.dispatch import scan_source
from modelsec.scanner.layout import lfs_pointer
from modelsec.scanner.limits import DEFAULT_LIMITS, ScanLimits, with_overrides
from modelsec.scanner.report import FileContext, ScanAbort, clip, printable
from modelsec.scanner.repository import analyse_repository  # eager: see below
from modelsec.scanner.source import ByteSource
from modelsec.scanner.walk import Entry, walk
from modelsec.types.data import FileScanData, ModelScanIssue, ScanDetails
from modelsec.types.enums import ModelScanStatus

# The repository analysis (code that loaders execute) is imported with the scanner, never first
# inside a worker thread: a test session's import hook (pytest rewrites an installed plugin's
# package) parses sources with ``ast``, and CPython 3.11 corrupts its AST recursion counter when
# two threads build trees at once (gh-106905).

__all__ = [
    "SCANNER_VERSION",
    "SUPPORTED_FORMATS",
    "scan_content",
    "scan_file",
    "scan_path",
    "scan_path_async",
]

#: ``scanner_version`` sent with every LOCAL scan.
SCANNER_VERSION = f"modelsec/{__version__}"

#: Format identifiers (contract names) this scanner can put in ``formats``.
SUPPORTED_FORMATS: tuple[str, ...] = (
    "pickle",
    "joblib",
    "pytorch_v0_1_1",
    "pytorch_v0_1_10",
    "pytorch_v1_13",
    "pytorch_torch_script",
    "pytorch_archive",
    "numpy",
    "numpy_zip",
    "keras3",
    "keras_legacy_h5",
    "keras_model_json",
    "keras_metadata",
    "onnx",
    "tensorflow",
    "gguf",
    "safetensors",
    "safetensors_index",
    "json",
    "yaml",
    "zip",
    "tar",
    "gzip",
    "bzip2",
    "xz",
    "lzma",
    "zlib",
    "lz4",
    "7_zip",
    "llamafile",
)

_CHUNK = 1 << 20


def _sha256_file(path: str, cancel: threading.Event | None = None) -> tuple[str, int]:
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    total = 0
    with open(path, "rb", buffering=0) as fp:
        while True:
            _cancel.check(cancel)
            n = fp.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            total += n
    return h.hexdigest(), total


def _synthetic_id(kind: str, rel: str) -> str:
    # Entries without content (links, special files) still need a blob_id: hash a label.
    return hashlib.sha256(f"{kind}:{rel}".encode()).hexdigest()


def scan_file(
    path: str,
    rel: str,
    limits: ScanLimits = DEFAULT_LIMITS,
    *,
    cancel: threading.Event | None = None,
) -> FileScanData:
    """Scan one regular file; ``rel`` is its path as reported (relative to the scan root).

    Once ``cancel`` is set, the next read raises
    :class:`~modelsec.scanner.cancel.ScanCancelled`.

    ``blob_id`` is the sha256 of the content (hex): the same bytes get the same id wherever
    they sit, which is what the service uses blob ids for.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp(), "m.pkl")
        >>> _ = p.write_bytes(b"cos\\nsystem\\n(S'id'\\ntR.")
        >>> r = scan_file(p, "m.pkl")
        >>> r.modelscan_status, r.issues_detected[0].threat, r.formats
        (<ModelScanStatus.SCANNED: 'SCANNED'>, 'PAIT-PKL-100', ['pickle'])
    """
    rel = clip(rel, 1024)
    try:
        digest, size = _sha256_file(path, cancel)
    except OSError as exc:
        return FileScanData(
            file_path=rel,
            modelscan_status=ModelScanStatus.ERROR,
            blob_id=_synthetic_id("unreadable", rel),
            error_message=clip(f"cannot read file: {exc.strerror or exc}", 1024),
        )
    return scan_content(rel, size, lambda: digest, path=path, limits=limits, cancel=cancel)


def scan_content(
    rel: str,
    size: int,
    sha256: Callable[[], str],
    *,
    path: str | None = None,
    fp: BinaryIO | None = None,
    seekable: bool = True,
    limits: ScanLimits = DEFAULT_LIMITS,
    cancel: threading.Event | None = None,
) -> FileScanData:
    """Scan one file's content, from ``path`` or from the open binary file ``fp``.

    ``sha256()`` is called after the parsers ran and returns the content's hex digest (a
    streamed source hashes what the parsers read and the rest once they are done, so every
    byte is fetched once). ``seekable=False`` scans ``fp`` as a forward-only stream (formats
    that need random access then fail closed).

    Example:
        >>> import io, hashlib
        >>> data = b"cos\\nsystem\\n(S'id'\\ntR."
        >>> r = scan_content("m.pkl", len(data), lambda: hashlib.sha256(data).hexdigest(),
        ...                  fp=io.BytesIO(data))
        >>> r.issues_detected[0].threat, r.sha256 == hashlib.sha256(data).hexdigest()
        ('PAIT-PKL-100', True)
    """
    rel = clip(rel, 1024)
    ctx = FileContext(rel, limits)
    if size > limits.max_file_bytes:
        digest = sha256()
        # Fail closed: content that was not parsed is a finding the default policy blocks.
        msg = f"larger than max_file_bytes ({limits.max_file_bytes}); not parsed"
        return FileScanData(
            file_path=rel,
            modelscan_status=ModelScanStatus.SKIPPED,
            blob_id=digest,
            sha256=digest,
            size_bytes=size,
            issues_detected=[
                ModelScanIssue(description=f"not scanned (fail closed): {msg}", source=rel)
            ],
            error_message=msg,
        )
    if fp is None and path is None:
        raise ValueError("scan_content needs path or fp")
    try:
        if fp is not None:
            opened: contextlib.AbstractContextManager[BinaryIO] = contextlib.nullcontext(fp)
        else:
            opened = _cancel.open_binary(path or "", cancel)
        with opened as f:
            src = ByteSource.from_file(f, size) if seekable else ByteSource(f.read, size=size)
            scan_source(ctx, src, rel, rel, 0, fp=f if seekable else None)
    except AISecSDKException:
        raise  # the source failed (network, credentials): not a finding about the file
    except ScanAbort as exc:
        ctx.scanned = True
        ctx.add_issue(exc.message, rel, exc.threat)
    except OSError as exc:
        ctx.add_error(f"cannot read file: {exc.strerror or exc}")
    except RecursionError:
        ctx.add_error("structure nested too deeply to scan")
    except Exception as exc:  # a scanner bug must never crash a scan: report it on the file
        ctx.add_error(f"internal scanner error: {type(exc).__name__}: {printable(str(exc))}")
    digest = sha256()
    if ctx.scanned:
        status = ModelScanStatus.SCANNED
    elif ctx.errors:
        status = ModelScanStatus.ERROR
    else:
        status = ModelScanStatus.SKIPPED
    issues = ctx.final_issues()
    return FileScanData(
        file_path=rel,
        modelscan_status=status,
        blob_id=digest,
        formats=list(ctx.formats) or None,
        sha256=digest,
        size_bytes=size,
        issues_detected=issues,
        error_message=clip("; ".join(ctx.errors), 1024) if ctx.errors else None,
    )


def _entry_issue(
    rel: str, kind: str, label: str, description: str, threat: str | None, message: str
) -> FileScanData:
    # Entries without readable content still need a blob_id: hash a label.
    return FileScanData(
        file_path=rel,
        modelscan_status=ModelScanStatus.ERROR if threat is None else ModelScanStatus.SKIPPED,
        blob_id=_synthetic_id(kind, label),
        issues_detected=[
            ModelScanIssue(description=clip(description, 4096), source=rel, threat=threat)
        ],
        error_message=clip(message, 1024),
    )


def _scan_entry(
    entry: Entry, limits: ScanLimits, cancel: threading.Event | None = None
) -> FileScanData:
    rel = clip(entry.rel, 1024)
    target = printable(entry.link_target or "")
    if entry.kind == "symlink":
        return _entry_issue(
            rel,
            "symlink",
            f"{rel}->{entry.link_target or ''}",
            f"symlink points outside the model directory: {target!r} (not followed)",
            "PAIT-ARV-100",
            "symlink leaving the model directory; not followed",
        )
    if entry.kind == "broken":
        # The loader will look for this file and not find it: nothing here was judged.
        return _entry_issue(
            rel,
            "broken",
            f"{rel}->{entry.link_target or ''}",
            f"symlink target {target!r} does not exist: file not present, not scanned "
            "(fail closed)",
            None,
            "dangling symlink; file not present",
        )
    if entry.kind == "unwalked":
        return _entry_issue(
            rel,
            "unwalked",
            rel,
            "linked directory not walked: too many linked directories (fail closed)",
            None,
            "linked directory not walked (walk bound reached)",
        )
    if entry.kind == "special":
        return FileScanData(
            file_path=rel,
            modelscan_status=ModelScanStatus.SKIPPED,
            blob_id=_synthetic_id("special", rel),
            issues_detected=[],
            error_message="not a regular file (FIFO, socket or device); not opened",
        )
    pointer = lfs_pointer(entry.path)
    if pointer is not None:
        digest, size = _sha256_file(entry.path, cancel)
        return FileScanData(
            file_path=rel,
            modelscan_status=ModelScanStatus.ERROR,
            blob_id=digest,
            sha256=digest,
            size_bytes=size,
            issues_detected=[
                ModelScanIssue(
                    description=clip(
                        "Git LFS pointer instead of the file: weights not present, nothing "
                        f"judged (fail closed); the real file has sha256 {pointer[0]} and "
                        f"{pointer[1]} bytes (run `git lfs pull`)",
                        4096,
                    ),
                    source=rel,
                    threat=None,
                )
            ],
            error_message="Git LFS pointer: file content not present",
        )
    return scan_file(entry.path, rel, limits, cancel=cancel)


def scan_path(
    path: str | os.PathLike[str],
    *,
    max_files: int = 1000,
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
    limits: ScanLimits | None = None,
    max_file_bytes: int | None = None,
    target_python: str | Sequence[str] | None = None,
    cancel: threading.Event | None = None,
) -> ScanDetails:
    """Scan a model file or directory offline and return the LOCAL scan's ``scan_details``.

    Nothing is ever unpickled, imported or executed; archives are read in memory. Raises
    :class:`~modelsec.scanner.walk.TooManyFilesError` (a ``PayloadError``) when more than
    ``max_files`` files remain after the patterns, and ``FileNotFoundError`` for a bad path.
    Once ``cancel`` (default: the event of an enclosing
    :func:`~modelsec.scanner.cancel.cancel_on`) is set, the scan stops at its next read with
    :class:`~modelsec.scanner.cancel.ScanCancelled`. ``target_python`` (``"3.12"``,
    ``"any"``...; default: ``limits``', else the interpreter running the scan) names the
    interpreters that will load the model, for which functions pickled by value are judged
    (:mod:`modelsec.scanner.interpreters`); ``max_file_bytes`` overrides ``limits``' too.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "model.pkl").write_bytes(b"\\x80\\x04N.")
        >>> details = scan_path(d)
        >>> details.total_files_scanned, details.files[0].issues_detected
        (1, [])
    """
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    lim = with_overrides(limits, max_file_bytes, target_python)
    if max_files < 1:
        raise ValueError("max_files must be at least 1")
    event = cancel if cancel is not None else _cancel.current()
    _cancel.check(event)
    entries = walk(
        os.fspath(path),
        allow_patterns=allow_patterns,
        ignore_patterns=ignore_patterns,
        max_files=max_files,
    )
    files = []
    for e in entries:
        _cancel.check(event)
        files.append(_scan_entry(e, lim, event))
    _cancel.check(event)
    analyse_repository(os.fspath(path), entries, files, lim)
    return details_of(files, started, t0)


def details_of(files: list[FileScanData], started: _dt.datetime, t0: float) -> ScanDetails:
    """The ``scan_details`` of scanned ``files`` (``t0``: ``time.perf_counter()`` at start).

    Example:
        >>> import datetime, time
        >>> details_of([], datetime.datetime.now(datetime.timezone.utc), time.perf_counter()).files
        []
    """
    formats: list[str] = []
    for f in files:
        for fmt in f.formats or []:
            if fmt not in formats and len(formats) < 100:
                formats.append(clip(fmt, 64))
    return ScanDetails(
        scanner_version=SCANNER_VERSION,
        time_started=started,
        files=files,
        total_files_scanned=sum(1 for f in files if f.modelscan_status == ModelScanStatus.SCANNED),
        total_files_skipped=sum(1 for f in files if f.modelscan_status == ModelScanStatus.SKIPPED),
        model_formats=formats,
        model_size_bytes=sum(f.size_bytes or 0 for f in files),
        scan_duration_ms=max(1, round((time.perf_counter() - t0) * 1000)),
    )


async def scan_path_async(
    path: str | os.PathLike[str],
    *,
    max_files: int = 1000,
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
    limits: ScanLimits | None = None,
    max_file_bytes: int | None = None,
    target_python: str | Sequence[str] | None = None,
    cancel: threading.Event | None = None,
) -> ScanDetails:
    """:func:`scan_path` in a worker thread, so an event loop keeps running meanwhile.

    The thread cannot be interrupted: to stop the scan early, set ``cancel``.

    Example:
        >>> import anyio, tempfile
        >>> details = anyio.run(scan_path_async, tempfile.mkdtemp())
        >>> details.files
        []
    """
    call = functools.partial(
        scan_path,
        path,
        max_files=max_files,
        allow_patterns=allow_patterns,
        ignore_patterns=ignore_patterns,
        limits=limits,
        max_file_bytes=max_file_bytes,
        target_python=target_python,
        cancel=cancel,
    )
    return await anyio.to_thread.run_sync(call)
