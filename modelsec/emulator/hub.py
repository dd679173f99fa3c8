"""Resolution of remote model URIs against a local "hub" directory.

Layout (``<hub>`` is the emulator's ``--hub`` directory)::

    <hub>/huggingface/<org>/<model>/...        hf://org/model, https://huggingface.co/org/model
    <hub>/huggingface/<org>/.verified          (optional) marks the organization as verified
    <hub>/huggingface/<org>/<model>/README.md  model card; YAML front matter gives `license`
    <hub>/huggingface/<org>/<model>/.revision  (optional) the commit sha to report
    <hub>/s3/<bucket>/<path>                   s3://bucket/path
    <hub>/gcs/<bucket>/<path>                  gs://bucket/path
    <hub>/azure/<account>/<container>/<path>   https://<account>.blob.core.windows.net/...
    <hub>/artifactory/<host>/<path>            https://<host>.jfrog.io/<path>
    <hub>/gitlab/<host>/<path>                 https://<host>/<group>/<project>/-/ml/models/...

A URI that does not resolve (or an emulator without a hub) makes the scan end in ``ERROR`` with
``MISSING_ARTIFACTS``. Links inside the hub are followed (Hugging Face's cache links snapshot
files to blobs); a link that leaves the hub is never followed, for any read (:func:`read_in_hub`).

Example:
    >>> parse_remote_uri("hf://my-org/my-model").parts
    ('huggingface', 'my-org', 'my-model')
    >>> parse_remote_uri("https://huggingface.co/my-org/my-model/tree/main").model_id
    'my-org/my-model'
    >>> parse_remote_uri("s3://bucket/models/m1").parts
    ('s3', 'bucket', 'models', 'm1')
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

__all__ = [
    "RemoteRef",
    "parse_front_matter",
    "parse_remote_uri",
    "read_in_hub",
    "source_type_of_uri",
]

#: The most a metadata read (model card, ``.revision``) takes from a hub file.
META_LIMIT = 64 * 1024


@dataclass(frozen=True)
class RemoteRef:
    """A remote URI split into hub path parts (and the HF model id when relevant)."""

    source_type: str
    parts: tuple[str, ...]
    model_id: str | None = None

    def resolve(self, hub: str | os.PathLike[str]) -> Path | None:
        """The local path under ``hub``, or ``None`` when it does not exist or escapes."""
        root = Path(hub).resolve()
        p = root.joinpath(*self.parts).resolve()
        if root != p and root not in p.parents:
            return None
        return p if p.exists() else None


def _inside(root: str, real: str) -> bool:
    return real != root and os.path.commonpath([root, real]) == root


def read_in_hub(
    hub: str | os.PathLike[str], path: str | os.PathLike[str], *, limit: int = META_LIMIT
) -> bytes | None:
    """The first ``limit`` bytes of the regular file at ``path``, or ``None`` unless the file,
    every link on the way resolved, lies inside ``hub``.

    The resolved path is then opened one component at a time from the hub's own directory
    without following any link (``O_NOFOLLOW`` relative to each directory), so a link swapped
    in after the check cannot lead the read out of the hub either. FIFOs, devices and
    directories are refused (a read must not block or wander).

    Example:
        >>> import tempfile, pathlib
        >>> hub = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (hub / "card.md").write_text("hello")
        >>> read_in_hub(hub, hub / "card.md"), read_in_hub(hub, "/etc/hostname")
        (b'hello', None)
    """
    try:
        root = os.path.realpath(hub)
        real = os.path.realpath(path)
        if not _inside(root, real):
            return None
        parts = os.path.relpath(real, root).split(os.sep)
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
        if os.open in os.supports_dir_fd and nofollow:
            dir_flags = os.O_RDONLY | nofollow | getattr(os, "O_DIRECTORY", 0)
            dfd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                for part in parts[:-1]:
                    nxt = os.open(part, dir_flags, dir_fd=dfd)
                    os.close(dfd)
                    dfd = nxt
                fd = os.open(parts[-1], flags | nofollow, dir_fd=dfd)
            finally:
                os.close(dfd)
        else:  # no openat (Windows): the realpath check above plus a final no-follow
            fd = os.open(real, flags | nofollow)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            return fh.read(max(0, limit))
    except (OSError, ValueError):
        return None


def _clean(parts: list[str]) -> tuple[str, ...]:
    return tuple(p for p in parts if p and p not in (".", ".."))


def source_type_of_uri(uri: str) -> str:
    """The source type a model URI belongs to (``LOCAL`` for paths).

    Example:
        >>> source_type_of_uri("gs://b/m"), source_type_of_uri("/tmp/m")
        ('GCS', 'LOCAL')
    """
    ref = parse_remote_uri(uri)
    return ref.source_type if ref else "LOCAL"


def parse_remote_uri(uri: str) -> RemoteRef | None:
    """Split a remote model URI; ``None`` for local paths and unknown schemes."""
    u = urlparse(uri.strip())
    scheme = u.scheme.lower()
    path = [p for p in u.path.split("/") if p]
    host = (u.hostname or "").lower()
    if scheme == "hf":
        segs = _clean([u.netloc, *path])
        if len(segs) < 2:
            return None
        return RemoteRef("HUGGING_FACE", ("huggingface", *segs[:2]), f"{segs[0]}/{segs[1]}")
    if scheme in ("http", "https"):
        if host in ("huggingface.co", "www.huggingface.co", "hf.co"):
            segs = _clean(path)
            if len(segs) < 2:
                return None
            return RemoteRef("HUGGING_FACE", ("huggingface", *segs[:2]), f"{segs[0]}/{segs[1]}")
        if host.endswith(".blob.core.windows.net"):
            return RemoteRef("AZURE", ("azure", host.split(".")[0], *_clean(path)))
        if host.endswith(".jfrog.io"):
            return RemoteRef("ARTIFACTORY", ("artifactory", host.split(".")[0], *_clean(path)))
        if "/-/ml/models" in u.path:
            return RemoteRef("GITLAB", ("gitlab", host, *_clean(path)))
        return None
    if scheme == "s3":
        return RemoteRef("S3", ("s3", u.netloc, *_clean(path)))
    if scheme == "gs":
        return RemoteRef("GCS", ("gcs", u.netloc, *_clean(path)))
    return None


_KV = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*?)\s*$")


def _unquote(v: str) -> str:
    v = v.split(" #", 1)[0].strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


def parse_front_matter(text: str) -> dict[str, str | list[str]]:
    """Parse the small YAML subset of a model card's front matter.

    Top-level ``key: value`` pairs, quoted or not, ``key: [a, b]`` and block lists
    (``key:`` followed by ``- item`` lines). Nested mappings are skipped.

    Example:
        >>> parse_front_matter("---\\nlicense: apache-2.0\\ntags:\\n- a\\n- 'b'\\n---\\n# Card")
        {'license': 'apache-2.0', 'tags': ['a', 'b']}
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    out: dict[str, str | list[str]] = {}
    current: str | None = None
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            break
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t-":
            item = line.strip()
            if current is not None and item.startswith("- "):
                val = out.get(current)
                if isinstance(val, list):
                    val.append(_unquote(item[2:]))
            continue
        m = _KV.match(line)
        if not m:
            current = None
            continue
        key, val = m.group(1), m.group(2)
        if val == "":
            out[key] = []
            current = key
        elif val.startswith("[") and val.endswith("]"):
            out[key] = [_unquote(x) for x in val[1:-1].split(",") if x.strip()]
            current = None
        else:
            out[key] = _unquote(val)
            current = None
    return out
