"""Format sniffing by content (magic bytes and structure), never by the file name alone.

The name is used only to choose between formats that have no magic (ONNX and TensorFlow
protobufs, Jinja templates) and to report a disguise: content that contradicts its extension.
"""

from __future__ import annotations

import posixpath

__all__ = ["Kind", "expected_kinds", "sniff"]


class Kind:
    """Content kinds the dispatcher knows (internal names, not the wire's format identifiers).

    Example:
        >>> sniff(b"PK\\x03\\x04rest", "x.bin", 100) == Kind.ZIP
        True
    """

    ZIP = "zip"
    TAR = "tar"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    LZMA = "lzma"
    ZLIB = "zlib"
    JOBLIB_ZF = "joblib_zf"
    SEVEN_ZIP = "7_zip"
    LZ4 = "lz4"
    NPY = "npy"
    GGUF = "gguf"
    HDF5 = "hdf5"
    SAFETENSORS = "safetensors"
    PICKLE = "pickle"
    TORCH_LEGACY = "torch_legacy"
    JSON = "json"
    ONNX = "onnx"
    TF_PB = "tf_pb"
    JINJA = "jinja"
    YAML = "yaml"
    LLAMAFILE = "llamafile"
    UNKNOWN = "unknown"


# Legacy torch.save (before the zip format): the first pickle is this magic number.
_TORCH_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")

_HDF5 = b"\x89HDF\r\n\x1a\n"


def _ext(name: str) -> str:
    return posixpath.splitext(name.lower())[1]


def _looks_like_onnx(head: bytes) -> bool:
    """ir_version first, then only ModelProto field numbers, a graph among them."""
    from modelsec.scanner.protobuf import LEN, ProtoError, fields
    from modelsec.scanner.source import ByteSource, TruncatedError

    src = ByteSource.from_bytes(head)
    seen: list[int] = []
    try:
        for f, wt, _v in fields(src, None):
            if f not in (1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25) or (f == 7 and wt != LEN):
                return False
            seen.append(f)
            if f == 7:
                break
    except (ProtoError, TruncatedError):
        pass
    return bool(seen) and seen[0] == 1 and 7 in seen


def sniff(head: bytes, name: str, size: int | None) -> str:
    """The :class:`Kind` of content starting with ``head`` (at least 4 KiB when available).

    Example:
        >>> sniff(b"\\x93NUMPY\\x01\\x00", "weights.bin", 10)
        'npy'
        >>> sniff(b"\\x80\\x04\\x95", "model.safetensors", 3)
        'pickle'
    """
    lower = name.lower()
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return Kind.ZIP
    if head[:6] == b"\x93NUMPY":
        return Kind.NPY
    if head[:4] == b"GGUF":
        return Kind.GGUF
    if head[:8] == _HDF5 or any(head[o : o + 8] == _HDF5 for o in (512, 1024, 2048)):
        return Kind.HDF5
    if head[:2] == b"\x1f\x8b":
        return Kind.GZIP
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return Kind.BZIP2
    if head[:6] == b"\xfd7zXZ\x00":
        return Kind.XZ
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return Kind.SEVEN_ZIP
    if head[:4] == b"\x04\x22\x4d\x18":
        return Kind.LZ4
    if head[:4] == b"MZqF" or head[:6] == b"MZqFpD":
        return Kind.LLAMAFILE
    if len(head) >= 262 and head[257:262] == b"ustar":
        return Kind.TAR
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        if head[2:4] == b"\x8a\x0a" and head[4:14] == _TORCH_MAGIC:
            return Kind.TORCH_LEGACY
        return Kind.PICKLE
    if len(head) >= 8 and _ext(name) == ".safetensors":
        return Kind.SAFETENSORS  # whatever the header says, validate it as safetensors
    if len(head) >= 9 and head[8:9] == b"{":
        n = int.from_bytes(head[:8], "little")
        if n >= 2 and (size is None or n <= size - 8):
            return Kind.SAFETENSORS
    if head[:2] == b"ZF" and len(head) > 21 and head[2:21].strip(b" ").isalnum():
        return Kind.JOBLIB_ZF
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return Kind.ZLIB
    if head[:3] == b"\x5d\x00\x00" and _ext(name) in (".lzma", ".joblib", ".z", ".pkl"):
        return Kind.LZMA
    if _ext(name) in (".jinja", ".jinja2", ".j2"):
        return Kind.JINJA
    stripped = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if stripped[:1] in (b"{", b"[") and not (
        stripped[:1] == b"[" and lower.endswith((".pkl", ".pickle"))
    ):
        return Kind.JSON
    ext = _ext(name)
    if ext == ".onnx" or (head[:1] == b"\x08" and _looks_like_onnx(head)):
        return Kind.ONNX
    if ext in (".pb", ".pbtxt") or posixpath.basename(lower) == "saved_model.pb":
        return Kind.TF_PB
    if ext in (".jinja", ".jinja2", ".j2"):
        return Kind.JINJA
    if ext in (".yaml", ".yml"):
        return Kind.YAML
    return Kind.UNKNOWN


_PICKLISH = {
    Kind.PICKLE,
    Kind.TORCH_LEGACY,
    Kind.ZIP,
    Kind.GZIP,
    Kind.ZLIB,
    Kind.BZIP2,
    Kind.XZ,
    Kind.LZMA,
    Kind.JOBLIB_ZF,
    Kind.LZ4,
    Kind.UNKNOWN,
}

_EXPECTED: dict[str, set[str]] = {
    ".safetensors": {Kind.SAFETENSORS},
    ".gguf": {Kind.GGUF},
    ".npy": {Kind.NPY},
    ".npz": {Kind.ZIP},
    ".keras": {Kind.ZIP},
    ".h5": {Kind.HDF5},
    ".hdf5": {Kind.HDF5},
    ".json": {Kind.JSON},
    ".zip": {Kind.ZIP},
    ".tar": {Kind.TAR},
    ".gz": {Kind.GZIP},
    ".tgz": {Kind.GZIP},
    ".bz2": {Kind.BZIP2},
    ".xz": {Kind.XZ},
    ".onnx": {Kind.ONNX},
    ".pkl": _PICKLISH,
    ".pickle": _PICKLISH,
    ".joblib": _PICKLISH,
    ".txt": {Kind.UNKNOWN, Kind.JSON, Kind.YAML},
    ".md": {Kind.UNKNOWN},
}


def expected_kinds(name: str) -> set[str] | None:
    """Kinds the extension of ``name`` promises, or ``None`` when it promises nothing.

    Example:
        >>> expected_kinds("model.safetensors") == {Kind.SAFETENSORS}
        True
        >>> expected_kinds("pytorch_model.bin") is None
        True
    """
    return _EXPECTED.get(_ext(name))
