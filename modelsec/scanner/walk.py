"""Directory walk for a scan: regular files only, symlinks never followed, relative paths.

A symlink in a model directory is never read through: one pointing inside the tree adds
nothing (its target is scanned as itself), one pointing outside would make the scanner (and
the user's loader) read files that are not part of the model, so it is reported instead.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Sequence

import attrs

from modelsec.errors import PayloadError

__all__ = ["Entry", "TooManyFilesError", "walk"]


class TooManyFilesError(PayloadError):
    """A scan would list more files than the API accepts (1,000 by default).

    Example:
        >>> str(TooManyFilesError(1001, 1000)).split(";")[0]
        'model has more than 1000 files (found at least 1001)'
    """

    def __init__(self, found: int, limit: int) -> None:
        self.found = found
        self.limit = limit
        super().__init__(
            f"model has more than {limit} files (found at least {found}); "
            "narrow it with allow_patterns/ignore_patterns"
        )


@attrs.frozen
class Entry:
    """One thing to report: a regular ``file``, a ``symlink`` leaving the root, or a
    ``special`` file (FIFO, socket, device) that is never opened."""

    rel: str
    path: str
    kind: str
    link_target: str | None = None


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    base = rel.rsplit("/", 1)[-1]
    for pat in patterns:
        if pat.endswith("/"):
            pat += "*"
        if fnmatch.fnmatchcase(rel, pat) or ("/" not in pat and fnmatch.fnmatchcase(base, pat)):
            return True
    return False


def _inside(root_real: str, target_real: str) -> bool:
    return target_real == root_real or target_real.startswith(root_real.rstrip(os.sep) + os.sep)


def walk(
    root: str,
    *,
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
    max_files: int = 1000,
) -> list[Entry]:
    """Entries under ``root`` (or ``root`` itself when it is a file), sorted by path.

    Patterns are globs on the ``/``-separated relative path (a pattern without ``/`` also
    matches the base name; ``dir/`` means everything under ``dir``). Files not matching
    ``allow_patterns`` (when given) or matching ``ignore_patterns`` are left out entirely.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.bin").write_bytes(b"x"); _ = (d / "README.md").write_text("hi")
        >>> [e.rel for e in walk(str(d), ignore_patterns=["*.md"])]
        ['a.bin']
    """
    allow = list(allow_patterns or [])
    ignore = list(ignore_patterns or [])
    out: list[Entry] = []

    def keep(rel: str) -> bool:
        if allow and not _matches(rel, allow):
            return False
        return not (ignore and _matches(rel, ignore))

    def add(entry: Entry) -> None:
        out.append(entry)
        if len(out) > max_files:
            raise TooManyFilesError(len(out), max_files)

    st = os.stat(root)  # the root itself may be a symlink the user chose: follow that one
    if not stat.S_ISDIR(st.st_mode):
        rel = os.path.basename(os.path.abspath(root))
        if keep(rel):
            add(Entry(rel, root, "file" if stat.S_ISREG(st.st_mode) else "special"))
        return out
    root_real = os.path.realpath(root)
    pending = [("", root)]
    while pending:
        prefix, directory = pending.pop()
        with os.scandir(directory) as it:
            items = sorted(it, key=lambda e: e.name)
        for item in items:
            rel = f"{prefix}{item.name}"
            if item.is_symlink():
                target = os.readlink(item.path)
                real = os.path.realpath(item.path)
                if not _inside(root_real, real) and keep(rel):
                    add(Entry(rel, item.path, "symlink", target))
                continue
            if item.is_dir(follow_symlinks=False):
                pending.append((rel + "/", item.path))
                continue
            if not keep(rel):
                continue
            kind = "file" if item.is_file(follow_symlinks=False) else "special"
            add(Entry(rel, item.path, kind))
    out.sort(key=lambda e: e.rel)
    return out
