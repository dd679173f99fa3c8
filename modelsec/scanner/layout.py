"""Repository layout facts: Git LFS pointer stubs standing in for the real files.

A repository cloned without ``git lfs`` holds small text stubs where the weights should be. The
scanner must not pass such a model: nothing of the real content was judged, and the file the
loader will eventually read is not this one. So a stub is reported as "not present" (fail
closed), never as a clean text file.
"""

from __future__ import annotations

import re

__all__ = ["LFS_MAX_BYTES", "lfs_pointer", "parse_lfs_pointer"]

#: Git LFS pointer files are smaller than 1024 bytes (git-lfs spec).
LFS_MAX_BYTES = 1024

_VERSION = re.compile(rb"\Aversion https://(?:git-lfs\.github\.com|hawser\.github\.com)/spec/v\d")
_OID = re.compile(rb"^oid sha256:([0-9a-f]{64})$", re.MULTILINE)
_SIZE = re.compile(rb"^size (\d{1,20})$", re.MULTILINE)


def parse_lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """``(sha256, size)`` of the file a Git LFS pointer stands for, or ``None`` when ``data``
    is not a pointer. A stub with the LFS version line but a damaged body still counts as a
    pointer (``("unknown", -1)``): it is not the real file either way.

    Example:
        >>> stub = (b"version https://git-lfs.github.com/spec/v1\\n"
        ...         b"oid sha256:" + b"a" * 64 + b"\\nsize 123\\n")
        >>> parse_lfs_pointer(stub)[1]
        123
        >>> parse_lfs_pointer(b"hello") is None
        True
    """
    if len(data) >= LFS_MAX_BYTES or not _VERSION.match(data):
        return None
    oid = _OID.search(data)
    size = _SIZE.search(data)
    if oid is None or size is None:
        return ("unknown", -1)
    return oid.group(1).decode(), int(size.group(1))


def lfs_pointer(path: str) -> tuple[str, int] | None:
    """:func:`parse_lfs_pointer` of the file at ``path`` (only small files are read).

    Example:
        >>> import tempfile, os
        >>> fd, p = tempfile.mkstemp(); os.close(fd)
        >>> lfs_pointer(p) is None
        True
    """
    try:
        with open(path, "rb") as fp:
            data = fp.read(LFS_MAX_BYTES)
    except OSError:
        return None  # scan_file reports the unreadable file
    return parse_lfs_pointer(data)
