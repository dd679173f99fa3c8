"""Directory walk for a scan: relative paths, in-repository symlinks followed, escapes reported.

Real model repositories are full of symbolic links: a Hugging Face cache keeps every file once
under ``models--org--name/blobs/<sha>`` and the snapshot a loader opens
(``snapshots/<rev>/model.safetensors``) is a link to it. A loader reads through those links, so
the scanner does too: a link whose target stays inside the *containment root* is followed and
its target scanned under the linked name (what the loader will open). The containment root is
the scan root, or, when the scan root lies inside a Hugging Face cache entry, that
``models--org--name`` folder (so ``../../blobs/<sha>`` counts as inside). A link leaving the
containment root would make the loader read files that are not part of the model: it is
reported (``symlink`` entry, ``PAIT-ARV-100``) and never read. A link whose target does not
exist is reported as ``broken`` (the file the loader wants is missing: fail closed).

Version-control metadata directories (``.git``, ``.hg``, ``.svn``) are not part of the model: they
are skipped entirely (not listed, not counted against ``max_files``).
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Sequence

import attrs

from modelsec.errors import PayloadError

__all__ = ["VCS_DIRS", "Entry", "TooManyFilesError", "containment_root", "walk"]

#: Directory names never descended into: version-control metadata, not model content.
VCS_DIRS = frozenset({".git", ".hg", ".svn"})

#: Hugging Face cache entry prefixes (``models--org--name`` and its dataset/space siblings).
_HF_PREFIXES = ("models--", "datasets--", "spaces--")


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
    """One thing to report: a regular ``file`` (possibly reached through an in-root link), a
    ``symlink`` leaving the root, a ``broken`` link (target missing), a ``special`` file (FIFO,
    socket, device) that is never opened, or a directory ``unwalked`` because the walk's bounds
    were reached (link fan-out)."""

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


def containment_root(root: str) -> str:
    """The real path links under ``root`` must stay inside: ``root`` itself, or the Hugging Face
    cache entry (``.../models--org--name``) when ``root`` is inside its ``snapshots`` folder.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp(), "models--org--m", "snapshots", "abc")
        >>> d.mkdir(parents=True)
        >>> containment_root(str(d)).endswith("models--org--m")
        True
    """
    real = os.path.realpath(root)
    parts = real.split(os.sep)
    # .../models--org--name/snapshots/<rev>[/sub...]: the entry folder holds blobs/ too.
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "snapshots" and parts[i - 1].startswith(_HF_PREFIXES):
            return os.sep.join(parts[:i]) or os.sep
    return real


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
    Links to directories inside the containment root are descended into under the linked name;
    a link back into a directory already on the current path (a loop) is not descended again.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.bin").write_bytes(b"x"); _ = (d / "README.md").write_text("hi")
        >>> (d / ".git").mkdir(); _ = (d / ".git" / "HEAD").write_text("ref")
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
    fence = containment_root(root)
    # Links can fan out (a directory linked from many places): bound the directories visited.
    budget = max(256, 4 * max_files)
    pending: list[tuple[str, str, tuple[str, ...]]] = [("", root, (os.path.realpath(root),))]
    while pending:
        prefix, directory, chain = pending.pop()
        with os.scandir(directory) as it:
            items = sorted(it, key=lambda e: e.name)
        for item in items:
            rel = f"{prefix}{item.name}"
            if item.is_symlink():
                target = os.readlink(item.path)
                real = os.path.realpath(item.path)
                if not _inside(fence, real):
                    if keep(rel):
                        add(Entry(rel, item.path, "symlink", target))
                    continue
                try:
                    tst = os.stat(item.path)
                except OSError:  # dangling (or a loop the OS refuses to resolve)
                    if keep(rel):
                        add(Entry(rel, item.path, "broken", target))
                    continue
                if stat.S_ISDIR(tst.st_mode):
                    if item.name in VCS_DIRS or real in chain:
                        continue  # a loop: its content is already walked under an ancestor
                    budget -= 1
                    if budget < 0:
                        if keep(rel):
                            add(Entry(rel, item.path, "unwalked", target))
                        continue
                    pending.append((rel + "/", item.path, (*chain, real)))
                    continue
                if keep(rel):
                    add(Entry(rel, item.path, "file" if stat.S_ISREG(tst.st_mode) else "special"))
                continue
            if item.is_dir(follow_symlinks=False):
                if item.name in VCS_DIRS:
                    continue
                budget -= 1
                pending.append((rel + "/", item.path, (*chain, os.path.realpath(item.path))))
                continue
            if not keep(rel):
                continue
            kind = "file" if item.is_file(follow_symlinks=False) else "special"
            add(Entry(rel, item.path, kind))
    out.sort(key=lambda e: e.rel)
    return out
