"""Route a byte stream to the parser of each format its content can be, recursively.

Identification (:mod:`modelsec.scanner.detect`) may find several formats in one file (a
polyglot): each is scanned, from a fresh start of the content (:class:`Rewinder`). Independently
of signatures, the pickle walker runs on every file a pickle-based loader would start
unpickling; it gives up at the first opcode a loader would refuse, so on other content it costs a
few bytes. What cannot be scanned (an unknown compression, a pass the replay budget cannot
afford, a missing optional extra) is an error, which the default policy blocks: fail closed.
"""

from __future__ import annotations

import lzma
import posixpath
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO

from modelsec.scanner.detect import Kind, expected_kinds, identify, pickle_may_start
from modelsec.scanner.pickles import Family, scan_pickle
from modelsec.scanner.report import FileContext, ScanAbort
from modelsec.scanner.source import (
    ByteSource,
    MissingExtraError,
    Rewinder,
    TruncatedError,
    decompressing_source,
)

__all__ = ["HEAD_BYTES", "NAME_ROUTES", "NameScanner", "scan_source"]

HEAD_BYTES = 4096

#: ``scanner(ctx, src, name, location) -> handled`` for a format chosen by file name; ``False``
#: (after peeking only) hands the content back to the sniffed kind's parser.
NameScanner = Callable[[FileContext, ByteSource, str, str], bool]

#: Name-based routing for formats without a signature (Python source, YAML configs, MLmodel,
#: ...): ``(matches(name), scanner)`` pairs, checked in order for content that has no signature
#: of its own (text, unknown bytes, YAML). The first match replaces the generic handling; the
#: pickle probe still runs when a loader could unpickle the content. Add entries here.
NAME_ROUTES: list[tuple[Callable[[str], bool], NameScanner]] = []

# Kinds decided by structure or name only, which a name route may take over.
_ROUTABLE = {Kind.TEXT, Kind.UNKNOWN, Kind.YAML, Kind.JSON}


def _loadtime_names(name: str) -> bool:
    from modelsec.scanner.loadtime import routes_name

    return routes_name(name)


def _loadtime_scan(ctx: FileContext, src: ByteSource, name: str, location: str) -> bool:
    # Code and configurations a loader acts on: Python source, YAML (Hydra, NeMo, MLmodel),
    # TorchServe manifests, skops schemas.
    from modelsec.scanner.loadtime import route_by_name

    return route_by_name(ctx, src, name, location)


NAME_ROUTES.append((_loadtime_names, _loadtime_scan))

_COMPRESSED = {
    Kind.GZIP: ("gzip", "gzip"),
    Kind.BZIP2: ("bzip2", "bzip2"),
    Kind.XZ: ("xz", "xz"),
    Kind.LZMA: ("lzma", "lzma"),
    Kind.ZLIB: ("zlib", "zlib"),
    Kind.LZ4: ("lz4", "lz4"),
}

# Extensions naming a compression layer: the inner content is named without them.
_COMPRESSION_EXTS = {".gz", ".bz2", ".xz", ".lzma", ".z", ".zlib", ".lz4"}

_DECOMP_ERRORS = (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError)

_EXEC_THREAT = "PAIT-LMAFL-300"


def _strip_ext(name: str) -> str:
    root, ext = posixpath.splitext(name)
    if ext.lower() == ".tgz":
        return root + ".tar"
    return root if ext.lower() in _COMPRESSION_EXTS else name


def _name_route(name: str) -> NameScanner | None:
    for matches, scanner in NAME_ROUTES:
        if matches(name):
            return scanner
    return None


def scan_source(
    ctx: FileContext,
    src: ByteSource,
    name: str,
    location: str,
    depth: int,
    *,
    fp: BinaryIO | None = None,
    family: str | None = None,
) -> None:
    """Scan the content of ``src`` (a file or a member named ``name``) into ``ctx``.

    ``location`` names it in issues (``file!member!inner``); ``depth`` counts archive layers;
    ``fp`` is a seekable file of exactly this content when one exists (zip needs it);
    ``family`` forces the pickle threat family (PYTCH inside a torch archive).

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.h5", ScanLimits())
        >>> pickle = b"cos\\nsystem\\n(S'id'\\ntR."
        >>> polyglot = pickle.ljust(512, b"\\0") + b"\\x89HDF\\r\\n\\x1a\\n" + bytes(512)
        >>> scan_source(ctx, ByteSource.from_bytes(polyglot), "m.h5", "m.h5", 0)
        >>> ctx.issues[0].threat  # also an error: the HDF5 behind it is a fake, unreadable
        'PAIT-PKL-100'
    """
    head = src.peek(HEAD_BYTES)
    if not head:
        return
    kinds = identify(head, name, src.size)
    if fp is not None and Kind.ZIP not in kinds and _appended_zip(fp):
        kinds.append(Kind.ZIP)  # zipfile (Keras, generic loaders) finds a zip by its end
    pickle_kind = Kind.PICKLE in kinds or Kind.TORCH_LEGACY in kinds
    probe = not pickle_kind and pickle_may_start(head)
    _check_disguise(ctx, kinds[0], name, location, family)
    route = _name_route(name) if kinds[0] in _ROUTABLE else None
    # The probe goes first: it reads little unless the content really is a pickle, so a later
    # pass over a stream replays few bytes.
    passes: list[str] = (["probe"] if probe else []) + kinds
    rewinder = Rewinder(src, ctx.limits.max_replay_bytes)
    for n, kind in enumerate(passes, 1):
        s = rewinder.next(last=n == len(passes))
        if s is None:
            ctx.add_error(
                f"{location}: content is also {kind} but was not scanned as such (stream "
                f"longer than the {ctx.limits.max_replay_bytes}-byte replay budget)"
            )
            continue
        try:
            if kind == "probe":
                _probe_pickle(ctx, s, name, location, family)
            elif route is not None and kind == kinds[0]:
                if not route(ctx, s, name, location):
                    _dispatch(ctx, s, kind, name, location, depth, fp, family)
            else:
                _dispatch(ctx, s, kind, name, location, depth, fp, family)
        except TruncatedError as exc:
            ctx.add_error(f"{location}: truncated ({exc})")
        except MissingExtraError as exc:
            ctx.add_format(kind)
            ctx.add_error(f"{location}: {exc}")
        except _DECOMP_ERRORS as exc:
            ctx.add_error(f"{location}: cannot decode {kind} content ({exc})")
    keras_name = name.lower().endswith((".keras", ".h5", ".hdf5"))
    if keras_name or (fp is not None and Kind.HDF5 not in kinds):
        # h5py finds a superblock past the sniffed head (a user block of 4 KiB or more), and
        # tf_keras loads any file name h5py accepts: look where h5py looks, whatever the name.
        from modelsec.scanner.keras import scan_keras_polyglot

        seen = Kind.ZIP if Kind.ZIP in kinds else Kind.HDF5 if Kind.HDF5 in kinds else kinds[0]
        scan_keras_polyglot(ctx, fp, name, location, depth, seen)


def _appended_zip(fp: BinaryIO) -> bool:
    """Whether ``zipfile`` opens the file by its end record although it does not start as a zip
    (data prepended to an archive: Keras and other ``zipfile`` users load it all the same).

    Only a central directory that parses counts, so stray signature bytes are not a zip. The
    file position is restored: the caller's source reads on from where it was.
    """
    pos = fp.tell()
    try:
        if not zipfile.is_zipfile(fp):
            return False
        fp.seek(0)
        with zipfile.ZipFile(fp) as zf:
            return bool(zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    finally:
        fp.seek(pos)


def _check_disguise(
    ctx: FileContext, kind: str, name: str, location: str, family: str | None
) -> None:
    expected = expected_kinds(name)
    if expected is None or kind in expected:
        return
    pickleish = kind in (Kind.PICKLE, Kind.TORCH_LEGACY)
    ctx.add_issue(
        f"content is {kind} but the name {posixpath.basename(name)!r} says otherwise "
        "(format disguised by its extension)",
        location,
        Family.code(family or Family.PICKLE, 101) if pickleish else None,
    )


def _dispatch(
    ctx: FileContext,
    src: ByteSource,
    kind: str,
    name: str,
    location: str,
    depth: int,
    fp: BinaryIO | None,
    family: str | None,
) -> None:
    if kind == Kind.ZIP:
        from modelsec.scanner.archive import scan_zip

        scan_zip(ctx, src, name, location, depth, fp)
    elif kind == Kind.TAR:
        from modelsec.scanner.tarscan import scan_tar

        scan_tar(ctx, src, name, location, depth)
    elif kind in _COMPRESSED:
        fmt, codec = _COMPRESSED[kind]
        ctx.add_format(fmt)
        _descend(ctx, depth, location)
        inner = decompressing_source(src, codec, ctx, location)
        scan_source(ctx, inner, _strip_ext(name), location, depth + 1, family=family)
        ctx.scanned = True
    elif kind == Kind.JOBLIB_ZF:
        # joblib < 0.10 (``read_zfile``): "ZF" + hex length padded to 19 characters (one more
        # space when written by Python 2 with joblib <= 0.8.4: a zlib stream never starts with
        # a space) + zlib stream: of a pickle, or of raw array bytes (``ZNDArrayWrapper``'s
        # ``.npy.z`` companions, read as data and never unpickled).
        ctx.add_format("joblib")
        ctx.add_format("zlib")
        _descend(ctx, depth, location)
        src.skip(21)
        if src.peek(1) == b" ":
            src.skip(1)
        body = ByteSource(src.read)  # not reopenable: it starts after the header
        inner = decompressing_source(body, "zlib", ctx, location)
        if pickle_may_start(inner.peek(HEAD_BYTES)):
            scan_pickle(ctx, inner, location, Family.JOBLIB)
        else:
            while inner.read_chunk():  # raw array data: decompressed whole, or an error
                pass
            ctx.scanned = True
    elif kind == Kind.SEVEN_ZIP:
        ctx.add_format(kind)
        ctx.add_error(f"{location}: 7-Zip content cannot be inspected (no reader)")
    elif kind in (Kind.PICKLE, Kind.TORCH_LEGACY):
        _scan_pickle_file(ctx, src, kind, name, location, family)
    elif kind == Kind.NPY:
        from modelsec.scanner.numpy_scan import scan_npy

        scan_npy(ctx, src, location, family)
    elif kind == Kind.SAFETENSORS:
        from modelsec.scanner.safetensors import scan_safetensors

        scan_safetensors(ctx, src, location)
    elif kind == Kind.GGUF:
        from modelsec.scanner.gguf import scan_gguf

        scan_gguf(ctx, src, location)
    elif kind == Kind.HDF5:
        from modelsec.scanner.keras import scan_h5

        scan_h5(ctx, src, location)
    elif kind == Kind.JSON:
        from modelsec.scanner.jsonfiles import scan_json

        scan_json(ctx, src, name, location)
    elif kind == Kind.JINJA:
        from modelsec.scanner.jinja import scan_template_source

        scan_template_source(ctx, src, location)
    elif kind == Kind.ONNX:
        from modelsec.scanner.onnx import scan_onnx

        if not scan_onnx(ctx, src, location):
            ctx.add_error(f"{location}: not an ONNX protobuf")
    elif kind == Kind.TF_PB and posixpath.basename(name.lower()) == "keras_metadata.pb":
        from modelsec.scanner.keras import scan_keras_metadata

        scan_keras_metadata(ctx, src, location)
    elif kind == Kind.TF_PB:
        from modelsec.scanner.savedmodel import scan_savedmodel

        scan_savedmodel(ctx, src, location)
    elif kind == Kind.YAML:
        ctx.add_format("yaml")
    elif kind in (Kind.LLAMAFILE, Kind.EXECUTABLE):
        _report_executable(ctx, kind, location)
    # TEXT, UBJSON and UNKNOWN: no model format; the pickle probe (if any) judged them.


def _report_executable(ctx: FileContext, kind: str, location: str) -> None:
    """Executables run code when started: a llamafile (APE) is a model that is a program."""
    ctx.scanned = True
    if kind == Kind.LLAMAFILE:
        ctx.add_format("llamafile")
        what = "llamafile / Actually Portable Executable (a program embedding the model)"
    else:
        what = "native executable (ELF, PE or Mach-O; a llamafile can take these forms)"
    ctx.add_issue(f"{what}: runs arbitrary code when started", location, _EXEC_THREAT)


def _descend(ctx: FileContext, depth: int, location: str) -> None:
    if depth >= ctx.limits.max_archive_depth:
        raise ScanAbort(
            f"{location}: archives nested deeper than {ctx.limits.max_archive_depth} levels"
        )


def _family_for(name: str, family: str | None) -> str:
    if family is not None:
        return family
    lower = name.lower()
    if lower.endswith((".joblib", ".jbl")):
        return Family.JOBLIB
    if lower.endswith((".pt", ".pth", ".ckpt")):
        return Family.PYTORCH
    return Family.PICKLE


def _scan_pickle_file(
    ctx: FileContext, src: ByteSource, kind: str, name: str, location: str, family: str | None
) -> None:
    if kind == Kind.TORCH_LEGACY:
        # Legacy torch.save: magic, protocol, sys_info, the object, storage keys, then raw data.
        ctx.add_format("pytorch_v0_1_10")
        scan_pickle(ctx, src, location, family or Family.PYTORCH, max_pickles=5)
        return
    fam = _family_for(name, family)
    res = scan_pickle(ctx, src, location, fam)
    ctx.add_format(
        "joblib"
        if any(i.module.startswith("joblib") for i in res.imports) or fam == Family.JOBLIB
        else "pickle"
    )


def _probe_pickle(
    ctx: FileContext, src: ByteSource, name: str, location: str, family: str | None
) -> None:
    """Content a loader would start unpickling: walk it, reporting only if it is a pickle."""
    fam = _family_for(name, family)
    res = scan_pickle(ctx, src, location, fam, probe=True)
    if res.looks_like_pickle:
        ctx.add_format(
            "joblib"
            if any(i.module.startswith("joblib") for i in res.imports) or fam == Family.JOBLIB
            else "pickle"
        )
