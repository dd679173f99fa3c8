"""A storage URI -> its ``scan_details``: list, select, stream each object into the scanner."""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Callable, Sequence
from typing import BinaryIO

from modelsec.sources.base import (
    MAX_FILES,
    RemoteFile,
    Source,
    SourceError,
    StorageObject,
    StorageProgress,
    log,
    select,
)
from modelsec.sources.uri import Location, parse_location
from modelsec.types.data import ScanDetails

__all__ = ["open_source", "scan_uri"]

# Configurations and code the scanner's repository pass reads by path: small ones are kept in
# a temporary directory while the model is scanned (the weights are never written anywhere).
_REPO_EXTS = (".py", ".json", ".yaml", ".yml")
_REPO_NAMES = ("MLmodel",)
_REPO_MAX_BYTES = 16 << 20


def open_source(loc: Location) -> Source:
    """The :class:`~modelsec.sources.base.Source` serving a parsed location.

    Example:
        >>> from modelsec.sources.uri import parse_location
        >>> source = open_source(parse_location("https://h.example/artifactory/repo/m"))
        >>> type(source).__name__
        'ArtifactorySource'
        >>> source.close()
    """
    if loc.kind in ("s3", "azure"):
        from modelsec.sources.objstore import ObjectStoreSource

        return ObjectStoreSource(loc)
    if loc.kind == "gcs":
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            from modelsec.sources.gcs_json import GCSJsonSource

            return GCSJsonSource(loc)
        from modelsec.sources.objstore import ObjectStoreSource

        return ObjectStoreSource(loc)
    if loc.kind == "artifactory":
        from modelsec.sources.artifactory import ArtifactorySource

        return ArtifactorySource(loc)
    if loc.kind == "gitlab":
        from modelsec.sources.gitlab import GitLabSource

        return GitLabSource(loc)
    raise SourceError(f"{loc.display}: unsupported storage")  # pragma: no cover


def _safe_parts(rel: str) -> list[str] | None:
    parts = rel.split("/")
    if any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
        return None
    return parts


def _wants_copy(obj: StorageObject) -> bool:
    base = posixpath.basename(obj.rel)
    return obj.size <= _REPO_MAX_BYTES and (base.endswith(_REPO_EXTS) or base in _REPO_NAMES)


def _read_all(source: Source, obj: StorageObject, progress: StorageProgress) -> bytes:
    with RemoteFile(source, obj, progress) as fp:
        data = fp.read()
    assert isinstance(data, bytes)
    return data


def _download(
    source: Source, objects: Sequence[StorageObject], target: str, progress: StorageProgress
) -> None:
    for obj in objects:
        parts = _safe_parts(obj.rel)
        if parts is None:
            raise SourceError(
                f"{source.display}: object name {obj.rel!r} cannot be written to a download "
                "directory safely"
            )
        path = os.path.join(target, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with RemoteFile(source, obj, progress) as src, open(path, "wb") as dst:
            buf = bytearray(1 << 20)
            while n := src.readinto(buf):
                dst.write(memoryview(buf)[:n])
        progress.file_done()


def scan_uri(
    uri: str,
    *,
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
    download_dir: str | os.PathLike[str] | None = None,
    max_files: int = MAX_FILES,
    spool_max_bytes: int | None = None,
    target_python: str | Sequence[str] | None = None,
) -> ScanDetails:
    """Read the model at a storage URI and scan it; returns the ``scan_details``.

    The objects are listed, the patterns applied before any byte is read, and each object is
    streamed into the scanner, one at a time: fetched once, front to back, into an unnamed
    temporary file the scanner reads with random access while it fills (deleted as soon as the
    object is scanned); an object larger than ``spool_max_bytes`` (default 4 GiB) is read with
    ranged requests instead, with nothing on disk. Memory stays bounded. The model's small
    configuration and Python files are kept in a temporary directory for the repository pass.
    With
    ``download_dir`` the model is downloaded to ``<download_dir>/<platform>/<bucket>/<prefix>``
    first (kept afterwards) and scanned there. Raises :class:`SourceError` (one line, never a
    credential) for credentials, a missing bucket or prefix, an empty prefix.
    ``target_python`` is as for :func:`~modelsec.scanner.scan_path`.

    Example:
        >>> scan_uri("s3://bucket/model")  # doctest: +SKIP
    """
    if spool_max_bytes is None:
        from modelsec.scanner.streams import DEFAULT_SPOOL_MAX_BYTES

        spool_max_bytes = DEFAULT_SPOOL_MAX_BYTES
    loc = parse_location(uri)
    if loc is None:
        raise SourceError(f"{uri!r} is not an object-storage or registry URI")
    source = open_source(loc)
    try:
        objects = select(
            source.objects(),
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
            max_files=max_files,
            display=loc.display,
        )
        progress = StorageProgress(
            loc.display, files=len(objects), total_bytes=sum(o.size for o in objects)
        )
        if download_dir is not None:
            from modelsec.scanner import scan_path

            target = os.path.join(os.fspath(download_dir), *loc.layout)
            _download(source, objects, target, progress)
            log.info("%s: downloaded to %s", loc.display, target)
            return scan_path(target, target_python=target_python)
        return _scan_streamed(source, objects, progress, spool_max_bytes, target_python)
    finally:
        source.close()


def _opener(path: str) -> Callable[[], BinaryIO]:
    return lambda: open(path, "rb")


def _remote(
    source: Source, obj: StorageObject, progress: StorageProgress, spool_max_bytes: int
) -> Callable[[], BinaryIO]:
    if obj.size <= spool_max_bytes:
        from modelsec.sources.spool import SpoolFile

        return lambda: SpoolFile(source, obj, progress)  # type: ignore[return-value]
    # Too large to spool: ranged requests where the parsers need random access.
    return lambda: RemoteFile(source, obj, progress, count_file=True)  # type: ignore[return-value]


def _scan_streamed(
    source: Source,
    objects: Sequence[StorageObject],
    progress: StorageProgress,
    spool_max_bytes: int,
    target_python: str | Sequence[str] | None = None,
) -> ScanDetails:
    from modelsec.scanner.streams import NamedStream, scan_streams

    with tempfile.TemporaryDirectory(prefix="modelsec-src-") as root:
        streams: list[NamedStream] = []
        for obj in objects:
            parts = _safe_parts(obj.rel)
            if _wants_copy(obj) and parts is not None:
                data = _read_all(source, obj, progress)
                progress.file_done()
                path = os.path.join(root, *parts)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as fh:
                    fh.write(data)
                del data
                streams.append(NamedStream(obj.rel, obj.size, _opener(path), path))
            else:
                streams.append(
                    NamedStream(obj.rel, obj.size, _remote(source, obj, progress, spool_max_bytes))
                )
        details = scan_streams(
            streams, root=root, spool_max_bytes=spool_max_bytes, target_python=target_python
        )
    if progress.bytes_read > (64 << 20):
        log.info("%s", progress.line())
    return details
