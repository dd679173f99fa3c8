"""Route a byte stream to the parser of its content, recursively for archives and layers."""

from __future__ import annotations

import lzma
import posixpath
import zlib
from typing import BinaryIO

from modelsec.scanner.detect import Kind, expected_kinds, sniff
from modelsec.scanner.pickles import Family, scan_pickle
from modelsec.scanner.report import FileContext, ScanAbort
from modelsec.scanner.source import ByteSource, TruncatedError, decompressing_source

__all__ = ["HEAD_BYTES", "scan_source"]

HEAD_BYTES = 4096

_COMPRESSED = {
    Kind.GZIP: ("gzip", "gzip"),
    Kind.BZIP2: ("bzip2", "bzip2"),
    Kind.XZ: ("xz", "xz"),
    Kind.LZMA: ("lzma", "lzma"),
    Kind.ZLIB: ("zlib", "zlib"),
}

_DECOMP_ERRORS = (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError)


def _strip_ext(name: str) -> str:
    root, ext = posixpath.splitext(name)
    if ext.lower() == ".tgz":
        return root + ".tar"
    return root if ext else name


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
    """
    head = src.peek(HEAD_BYTES)
    kind = sniff(head, name, src.size)
    expected = expected_kinds(name)
    if expected is not None and kind not in expected and head:
        pickleish = kind in (Kind.PICKLE, Kind.TORCH_LEGACY)
        ctx.add_issue(
            f"content is {kind} but the name {posixpath.basename(name)!r} says otherwise "
            "(format disguised by its extension)",
            location,
            Family.code(family or Family.PICKLE, 101) if pickleish else None,
        )
    try:
        _dispatch(ctx, src, kind, head, name, location, depth, fp, family)
    except TruncatedError as exc:
        ctx.add_error(f"{location}: truncated ({exc})")
    except _DECOMP_ERRORS as exc:
        ctx.add_error(f"{location}: cannot decode {kind} content ({exc})")


def _dispatch(
    ctx: FileContext,
    src: ByteSource,
    kind: str,
    head: bytes,
    name: str,
    location: str,
    depth: int,
    fp: BinaryIO | None,
    family: str | None,
) -> None:
    if not head:
        return
    from modelsec.scanner.loadtime import route_by_name  # code and configs a loader acts on

    if route_by_name(ctx, src, name, location):
        return
    if kind == Kind.ZIP:
        from modelsec.scanner.archive import scan_zip

        scan_zip(ctx, src, name, location, depth, fp)
    elif kind == Kind.TAR:
        from modelsec.scanner.archive import scan_tar

        scan_tar(ctx, src, name, location, depth)
    elif kind in _COMPRESSED:
        fmt, codec = _COMPRESSED[kind]
        ctx.add_format(fmt)
        _descend(ctx, depth, location)
        inner = decompressing_source(src, codec, ctx, location)
        scan_source(ctx, inner, _strip_ext(name), location, depth + 1, family=family)
        ctx.scanned = True
    elif kind == Kind.JOBLIB_ZF:
        # joblib < 0.10: "ZF" + hex length + zlib stream of a pickle.
        ctx.add_format("joblib")
        ctx.add_format("zlib")
        _descend(ctx, depth, location)
        src.skip(21)
        inner = decompressing_source(src, "zlib", ctx, location)
        scan_pickle(ctx, inner, location, Family.JOBLIB)
    elif kind in (Kind.SEVEN_ZIP, Kind.LZ4):
        ctx.add_format(kind)
        ctx.add_error(f"{location}: {kind} content cannot be inspected without extra libraries")
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
    elif kind == Kind.TF_PB:
        from modelsec.scanner.savedmodel import scan_savedmodel

        scan_savedmodel(ctx, src, location)
    elif kind == Kind.YAML:
        ctx.add_format("yaml")
    elif kind == Kind.LLAMAFILE:
        ctx.add_format("llamafile")
    else:
        _probe_pickle(ctx, src, name, location, family)


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
    """Protocol 0/1 pickles have no magic: try the walker in strict mode on unknown content."""
    head = src.peek(1)
    if not head or head[0] not in b"(cSVIJKLFGNXTU])}ilP\x80\x8c\x95":
        return
    fam = _family_for(name, family)
    res = scan_pickle(ctx, src, location, fam, probe=True)
    if res.looks_like_pickle:
        ctx.add_format("pickle")
