"""Keras containers: v3 ``.keras`` zips, legacy ``.h5``, SavedModel ``keras_metadata.pb``.

Each container is parsed to reach the configuration JSON exactly where Keras reads it
(``config.json`` in the zip, the ``model_config``/``training_config`` attributes of the HDF5 root
group read through the HDF5 structure, the ``metadata`` strings of the ``keras_metadata.pb``
protobuf); the parsed tree is then judged by :func:`check_keras_config`. Whatever cannot be
located or decoded is an error (fail closed), never a pass.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from typing import BinaryIO

from modelsec.scanner.hdf5 import H5Error, H5File, H5Object, find_superblock
from modelsec.scanner.jsonfiles import parse_json
from modelsec.scanner.keras_config import check_keras_config, is_keras_module
from modelsec.scanner.protobuf import LEN, ProtoError, fields
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource, TruncatedError

__all__ = [
    "check_keras_config",
    "scan_h5",
    "scan_keras_config",
    "scan_keras_metadata",
    "scan_keras_polyglot",
]

# Root attributes Keras' legacy loader json-decodes and deserializes.
_H5_CONFIGS = ("model_config", "training_config")


def scan_keras_config(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Parse ``config.json`` (or ``metadata.json``) of a ``.keras`` archive and judge it.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.keras", ScanLimits())
        >>> doc = b'{"class_name" : "Dense", "module" : "os", "config" : {}}'
        >>> scan_keras_config(ctx, ByteSource.from_bytes(doc), "m.keras!config.json")
        >>> ctx.issues[0].threat
        'PAIT-KERAS-100'
    """
    raw = src.read(ctx.limits.max_json_bytes + 1)
    doc = parse_json(ctx, raw, location, location.rsplit("!", 1)[-1])
    if doc is not None:
        check_keras_config(ctx, doc, location)


def scan_keras_metadata(ctx: FileContext, src: ByteSource, location: str) -> None:
    """SavedModel ``keras_metadata.pb``: every node's ``metadata`` JSON string, judged.

    ``SavedMetadata { repeated SavedObject nodes = 1; }`` and ``SavedObject { ... string
    metadata = 5; }``: tf.keras rebuilds each layer from that JSON (Lambda bytecode included).

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> meta = b'{"class_name" : "Lambda", "config" : {"function_type" : "lambda"}}'
        >>> node = b"\\x2a" + bytes([len(meta)]) + meta
        >>> blob = b"\\x0a" + bytes([len(node)]) + node
        >>> ctx = FileContext("keras_metadata.pb", ScanLimits())
        >>> scan_keras_metadata(ctx, ByteSource.from_bytes(blob), "keras_metadata.pb")
        >>> ctx.issues[0].threat
        'PAIT-KERAS-100'
    """
    ctx.add_format("keras_metadata")
    ctx.scanned = True
    nodes = 0
    try:
        for f, wt, v in fields(src, None):
            if f != 1 or wt != LEN:
                continue
            nodes += 1
            for f2, wt2, v2 in fields(src, src.pos + v):
                if f2 != 5 or wt2 != LEN or v2 == 0:
                    continue
                if v2 > ctx.limits.max_json_bytes:
                    ctx.add_error(f"{location}: node metadata larger than the JSON limit")
                    continue
                doc = parse_json(ctx, src.read_exact(v2), location, "node metadata JSON")
                if doc is not None:
                    check_keras_config(ctx, doc, location)
    except (ProtoError, TruncatedError) as exc:
        ctx.add_error(f"{location}: malformed keras_metadata.pb ({exc})")
        return
    if nodes == 0:
        ctx.add_error(f"{location}: keras_metadata.pb holds no SavedObject node")


def scan_keras_polyglot(
    ctx: FileContext,
    fp: BinaryIO | None,
    name: str,
    location: str,
    depth: int,
    kind: str = "unknown",
) -> None:
    """Content Keras finds behind a prefix that the sniffer (looking at the head) did not.

    ``load_model`` opens a ``.keras`` path with ``zipfile``, which finds a zip at the END of
    the file whatever precedes it; a ``.h5`` path goes to h5py, which finds the superblock at
    0, 512, 1024, 2048, ... (a user block before it). ``kind`` is what the head looked like.

    Example:
        >>> import io, zipfile as zf
        >>> from modelsec.scanner.limits import ScanLimits
        >>> buf = io.BytesIO()
        >>> with zf.ZipFile(buf, "w") as z:
        ...     z.writestr("config.json", '{"class_name":"x","module":"os","config":{}}')
        ...     z.writestr("metadata.json", "{}")
        >>> ctx = FileContext("m.keras", ScanLimits())
        >>> scan_keras_polyglot(ctx, io.BytesIO(b"JUNK" * 10 + buf.getvalue()), "m.keras",
        ...     "m.keras", 0)
        >>> sorted({i.threat for i in ctx.issues if i.threat})
        ['PAIT-KERAS-100']
    """
    keras_zip = name.lower().endswith(".keras")
    if kind == ("zip" if keras_zip else "hdf5"):
        return  # already read as what Keras opens
    if fp is None:
        ctx.add_error(
            f"{location}: archive member not in the format its name says; content behind a "
            "prefix was not looked for"
        )
        return
    try:
        fp.seek(0, 2)
        size = fp.tell()
        fp.seek(0)
        found = zipfile.is_zipfile(fp) if keras_zip else _has_superblock(fp, size)
        fp.seek(0)
    except OSError as exc:
        ctx.add_error(f"{location}: cannot reread the file ({exc})")
        return
    if not found:
        return
    what = "a zip archive" if keras_zip else "an HDF5 file"
    ctx.add_issue(
        f"{what} follows other content (polyglot): Keras opens it as this model",
        location,
        None,
        None,
        "polyglot",
    )
    src = ByteSource.from_file(fp, size)
    if keras_zip:
        from modelsec.scanner.archive import scan_zip

        scan_zip(ctx, src, name, location, depth, fp)
    else:
        scan_h5(ctx, src, location)


def _has_superblock(fp: BinaryIO, size: int) -> bool:
    def read_at(off: int, n: int) -> bytes:
        fp.seek(off)
        return fp.read(n)

    try:
        find_superblock(read_at, size)
    except H5Error:
        return False
    return True


# --- legacy HDF5 ---------------------------------------------------------------------------


def _random_access(
    ctx: FileContext, src: ByteSource, location: str
) -> tuple[Callable[[int, int], bytes], int] | None:
    """``read_at(offset, n)`` over ``src``: by seeking when it can, else from a bounded buffer."""
    # ByteSource is forward-only; files and stored zip members expose their seek, which is all
    # HDF5 needs to read its metadata without loading the weights.
    seek, read, size = src._seek, src._read, src.size
    if seek is not None and size is not None:

        def read_at(off: int, n: int) -> bytes:
            seek(off)
            parts, need = [], n
            while need > 0:
                chunk = read(need)
                if not chunk:
                    break
                parts.append(chunk)
                need -= len(chunk)
            return b"".join(parts)

        return read_at, size
    data = src.read(ctx.limits.max_in_memory_bytes + 1)
    if len(data) > ctx.limits.max_in_memory_bytes:
        ctx.add_error(
            f"{location}: compressed HDF5 larger than {ctx.limits.max_in_memory_bytes} bytes "
            "was not inspected"
        )
        return None
    return (lambda off, n: data[off : off + n]), len(data)


def scan_h5(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Legacy Keras ``.h5`` (and any HDF5): read the root attributes through the HDF5 structure.

    Every object reachable from the root group is visited; the ``model_config`` and
    ``training_config`` root attributes are parsed as JSON and judged, as is any string
    attribute holding a Keras-like JSON object. External links and external raw-data files
    (content read from other files) are reported. A file whose structure cannot be followed is
    an error, with a last-resort search of the whole file for Lambda bytecode and modules.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("fake.h5", ScanLimits())
        >>> fake = b"\\x89HDF\\r\\n\\x1a\\n" + bytes(100)
        >>> scan_h5(ctx, ByteSource.from_bytes(fake), "fake.h5")
        >>> ctx.errors
        ['fake.h5: HDF5 structure not readable (bad offset/length sizes 0/0)']
    """
    access = _random_access(ctx, src, location)
    if access is None:
        return
    read_at, size = access
    try:
        h5 = H5File(read_at, size)
        for obj in h5.objects():
            _h5_object(ctx, obj, location)
    except H5Error as exc:
        ctx.add_error(f"{location}: HDF5 structure not readable ({exc})")
        _salvage(ctx, read_at, size, location)
        return
    ctx.scanned = True


def _h5_object(ctx: FileContext, obj: H5Object, location: str) -> None:
    root = obj.path == "/"
    names = {a.name for a in obj.attributes}
    if root and names & {"model_config", "keras_version", "training_config"}:
        ctx.add_format("keras_legacy_h5")
    for attr in obj.attributes:
        where = f"{location}:{printable(obj.path)}@{printable(attr.name)}"
        if root and attr.name in _H5_CONFIGS:
            if attr.strings is None or len(attr.strings) != 1:
                ctx.add_error(f"{where}: Keras config attribute is not a single string")
                continue
            doc = parse_json(ctx, attr.strings[0], where, attr.name)
            if doc is not None:
                check_keras_config(ctx, doc, where)
            continue
        for value in attr.strings or ():
            # Any other string holding a Keras-like object is judged too (never trusted).
            if value.lstrip()[:1] != b"{" or b"class_name" not in value:
                continue
            try:
                doc = json.loads(value.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                continue
            check_keras_config(ctx, doc, where)
    for ext in obj.external:
        ctx.add_issue(
            f"HDF5 object {printable(obj.path)} reads content from outside this file "
            f"({printable(ext)}), which this scan did not inspect",
            f"{location}:{printable(obj.path)}",
            "PAIT-KERAS-101",
            None,
            "hdf5-external",
        )


_SALVAGE_LAMBDA = re.compile(
    rb'"(?:class_name|function_type)"\s*:\s*"(?:Lambda|lambda|__lambda__)"'
)
_SALVAGE_MODULE = re.compile(rb'"module"\s*:\s*"([A-Za-z_][\w.]{0,200})"')


def _salvage(
    ctx: FileContext, read_at: Callable[[int, int], bytes], size: int, location: str
) -> None:
    """After a structural failure (already an error): name what the bytes show, whole file."""
    step, overlap = 1 << 20, 1024
    modules: set[str] = set()
    lam = False
    for off in range(0, size, step):
        window = read_at(max(0, off - overlap), step + overlap)
        lam = lam or bool(_SALVAGE_LAMBDA.search(window))
        for m in _SALVAGE_MODULE.finditer(window):
            if len(modules) < 100:
                modules.add(m.group(1).decode("ascii"))
    if lam:
        ctx.scanned = True
        ctx.add_issue(
            "Lambda bytecode in an HDF5 file whose structure could not be read",
            location,
            "PAIT-KERAS-100",
            "keras.layers",
            "Lambda",
        )
    for module in sorted(m for m in modules if not is_keras_module(m)):
        ctx.scanned = True
        ctx.add_issue(
            f"module {module} outside Keras named in an HDF5 file whose structure could not "
            "be read",
            location,
            "PAIT-KERAS-301",
            module,
        )
