"""Identification by what loaders accept: every format a file's content can be taken for.

A file is not "one format": ``pickle.load`` needs no magic and starts from any opcode a fresh
unpickler executes, ``tarfile`` takes any block whose header checksum is right, HDF5 looks for
its superblock at several offsets, joblib decompresses by a two-byte prefix. :func:`identify`
returns every kind whose signature or structure the content satisfies (a polyglot is scanned as
each), and :func:`pickle_may_start` says whether some pickle-based loader would start
unpickling it (then the pickle walker runs too, whatever the signatures claim).

The name is used only to choose between formats that have no magic (ONNX and TensorFlow
protobufs, Jinja templates, YAML) and to report a disguise: content that contradicts its
extension.
"""

from __future__ import annotations

import lzma
import pickletools
import posixpath
import tarfile
import zlib
from typing import Protocol

__all__ = ["Kind", "expected_kinds", "identify", "pickle_may_start", "sniff"]


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
    UBJSON = "ubjson"
    TEXT = "text"
    ONNX = "onnx"
    TF_PB = "tf_pb"
    JINJA = "jinja"
    YAML = "yaml"
    LLAMAFILE = "llamafile"
    EXECUTABLE = "executable"
    UNKNOWN = "unknown"


# Legacy torch.save (before the zip format): the first pickle is this magic number.
_TORCH_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")

_HDF5 = b"\x89HDF\r\n\x1a\n"
# bzip2: a compressed block (pi in BCD) or the end of an empty stream (sqrt(pi)).
_BZ2_BLOCKS = (b"1AY&SY", b"\x17rE8P\x90")


def _start_opcodes() -> frozenset[int]:
    """Opcodes a fresh unpickler executes without error as the first one of a stream.

    Derived from :data:`pickletools.opcodes`: the opcode must need nothing on the stack
    (``stack_before`` empty) and leave something there (or be ``MARK``); of those, the ones that
    read state a fresh ``Unpickler`` of every loader lacks at byte 0 are refused there: the memo
    is empty (``GET`` family), the first pickle of every loader (``torch.load``'s legacy magic
    number included) has no ``persistent_load`` (``PERSID``) and no out-of-band ``buffers``
    (``NEXT_BUFFER``). ``PROTO`` and ``FRAME`` are prefixes, handled by
    :func:`pickle_may_start`. The ``EXT`` codes stay in: a process may have registered some.
    """
    refused_at_start = {"GET", "BINGET", "LONG_BINGET", "PERSID", "NEXT_BUFFER"}
    out = set()
    for op in pickletools.opcodes:
        if op.stack_before or op.name in refused_at_start:
            continue
        if op.stack_after or op.name == "MARK":
            out.add(ord(op.code.encode("latin-1")))
    return frozenset(out)


_START_OPCODES = _start_opcodes()
_PROTO = 0x80
_FRAME = 0x95


def pickle_may_start(head: bytes) -> bool:
    """Whether some pickle-based loader would start unpickling content beginning with ``head``.

    ``pickle.load`` (and ``torch.load``'s legacy path, ``joblib.load`` on uncompressed files,
    ``numpy.load`` on anything that is not npy or zip) reads opcodes from byte 0 without any
    header: ``PROTO`` and ``FRAME`` may come first, then the first real opcode decides.

    Example:
        >>> pickle_may_start(b"cos\\nsystem\\n"), pickle_may_start(
        ...     b"\\x80\\x04\\x95" + bytes(8) + b")")
        (True, True)
        >>> pickle_may_start(b"[PAD]\\n"), pickle_may_start(b"PK\\x03\\x04"), pickle_may_start(b"")
        (False, False, False)
    """
    i = 0
    while i < len(head):
        op = head[i]
        if op == _PROTO:  # PROTO may repeat and follow FRAME: pickle accepts it anywhere
            if i + 1 < len(head) and head[i + 1] > 5:
                return False
            i += 2
        elif op == _FRAME:
            i += 9
        else:
            return op in _START_OPCODES
    # Only prefixes as far as we can see: a loader would go on reading, so must we.
    return bool(head)


def _ext(name: str) -> str:
    return posixpath.splitext(name.lower())[1]


def _looks_like_onnx(head: bytes) -> bool:
    """An ONNX ModelProto by structure alone (any field order, any name): see
    :func:`modelsec.scanner.onnx.is_onnx_model`."""
    from modelsec.scanner.onnx import is_onnx_model

    return is_onnx_model(head)


def is_tar_header(block: bytes) -> bool:
    """Whether ``block`` is a tar header ``tarfile`` accepts (V7, ustar, GNU or PAX).

    ``tarfile`` has no magic requirement: a 512-byte block whose checksum field matches the
    (signed or unsigned) byte sum is a header. We apply its own parser.

    Example:
        >>> import io, tarfile
        >>> buf = io.BytesIO()
        >>> with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        ...     tf.addfile(tarfile.TarInfo("a"), io.BytesIO())
        >>> is_tar_header(buf.getvalue()[:512]), is_tar_header(bytes(512))
        (True, False)
    """
    if len(block) < 512 or block[:512] == bytes(512):
        return False
    try:
        tarfile.TarInfo.frombuf(block[:512], "utf-8", "surrogateescape")
    except (tarfile.TarError, ValueError):
        return False
    return True


class _Decomp(Protocol):
    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes: ...


def _trial(head: bytes, dec: _Decomp) -> bool:
    """Whether a decompressor accepts the start of ``head`` (a real parse of the first bytes)
    and it holds something (a stream that ends empty at once contains nothing to load)."""
    try:
        out = dec.decompress(head, 4096)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):
        return False
    return bool(out) or not dec.eof


def _is_lzma_alone(head: bytes) -> bool:
    """The ``.lzma`` (LZMA-alone) header as liblzma's auto decoder takes it, then a trial run.

    Properties byte ``(pb*5+lp)*9+lc`` below 225 with ``lc+lp <= 4``, a dictionary size of
    ``2^n`` or ``2^n+2^(n-1)``, an uncompressed size that is unknown (all ones) or below
    ``2^38``, and the range coder's first byte zero; the decoder must then accept the data.
    """
    if len(head) < 14 or head[0] >= 225:
        return False
    lc, rest = head[0] % 9, head[0] // 9
    if lc + rest % 5 > 4:
        return False
    dict_size = int.from_bytes(head[1:5], "little")
    if dict_size != 0xFFFFFFFF:
        d = max(dict_size, 1)
        top = 1 << (d.bit_length() - 1)
        if d not in (top, top | (top >> 1)):
            return False
    usize = int.from_bytes(head[5:13], "little")
    if usize != (1 << 64) - 1 and usize >= 1 << 38:
        return False
    if head[13] != 0:
        return False
    return _trial(head, lzma.LZMADecompressor(lzma.FORMAT_ALONE))


def _is_zlib(head: bytes) -> bool:
    if len(head) < 2 or head[0] & 0x0F != 8 or head[0] >> 4 > 7:
        return False
    if (head[0] * 256 + head[1]) % 31 or head[1] & 0x20:
        return False
    return _trial(head, zlib.decompressobj())


_UBJSON_KEY = frozenset(b"iUIlL$#")
_UBJSON_VALUE = frozenset(b"iUIlLdDSHCTFZN$#")


def _json_like(head: bytes) -> bool:
    """Whether the first tokens are JSON (an object or an array opening with a JSON value)."""
    stripped = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    first = stripped[:1]
    if first not in (b"{", b"["):
        return False
    rest = stripped[1:].lstrip(b" \t\r\n")
    if not rest:
        return True
    nxt = rest[:1]
    if first == b"{":
        return nxt in (b'"', b"}")
    if nxt in b'{["-0123456789]':
        return True
    return any(rest[: len(w)] == w[: len(rest)] for w in (b"true", b"false", b"null"))


def _is_ubjson(head: bytes) -> bool:
    """UBJSON (xgboost ``.ubj``): a container whose first item has a UBJSON type marker."""
    if len(head) < 2:
        return False
    if head[:1] == b"{":
        return head[1] in _UBJSON_KEY
    return head[:1] == b"[" and head[1] in _UBJSON_VALUE


_WHITESPACE = {ord(c): None for c in "\t\r\n\f"}


def _is_text(head: bytes) -> bool:
    """UTF-8 text without control characters other than whitespace (a cut last char is fine)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3 or exc.reason != "unexpected end of data":
            return False
        text = head[: exc.start].decode("utf-8")
    return text.translate(_WHITESPACE).isprintable()


def _executable(head: bytes) -> str | None:
    if head[:7] in (b"MZqFpD=", b"jartsr=") or head[:4] == b"MZqF":
        return Kind.LLAMAFILE  # Actually Portable Executable (llamafile) shell/PE header
    if head[:2] == b"MZ" or head[:4] == b"\x7fELF":
        return Kind.EXECUTABLE
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return Kind.EXECUTABLE  # Mach-O (and fat binaries)
    return None


def _by_magic(head: bytes, name: str, size: int | None) -> str | None:
    """The kind a signature at offset 0 claims (magics at offset 0 exclude each other)."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return Kind.ZIP
    if head[:6] == b"\x93NUMPY":
        return Kind.NPY
    if head[:4] == b"GGUF":
        return Kind.GGUF
    if head[:2] == b"\x1f\x8b":
        return Kind.GZIP
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] in _BZ2_BLOCKS:
        return Kind.BZIP2
    if head[:6] == b"\xfd7zXZ\x00":
        return Kind.XZ
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return Kind.SEVEN_ZIP
    if head[:4] in (b"\x04\x22\x4d\x18", b"\x02\x21\x4c\x18"):
        return Kind.LZ4
    exe = _executable(head)
    if exe is not None:
        return exe
    if len(head) >= 2 and head[0] == _PROTO and 2 <= head[1] <= 5:
        if head[2:4] == b"\x8a\x0a" and head[4:14] == _TORCH_MAGIC:
            return Kind.TORCH_LEGACY
        return Kind.PICKLE
    if head[:2] == b"ZF" and len(head) > 21 and head[2:21].strip(b" ").isalnum():
        return Kind.JOBLIB_ZF
    if _is_zlib(head):
        return Kind.ZLIB
    if _is_lzma_alone(head):
        return Kind.LZMA
    return None


def _safetensors_prefix(head: bytes, size: int | None) -> bool:
    if len(head) < 9 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    return n >= 2 and (size is None or n <= size - 8)


def identify(head: bytes, name: str, size: int | None) -> list[str]:
    """Every :class:`Kind` content starting with ``head`` can be taken for, primary first.

    Several kinds mean a polyglot (each is scanned); the pickle walker's probe is decided
    separately by :func:`pickle_may_start`.

    Example:
        >>> polyglot = b"cos\\nsystem\\n(S'id'\\ntR.".ljust(512, b"\\0") + b"\\x89HDF\\r\\n\\x1a\\n"
        >>> identify(polyglot, "m.h5", 1000), pickle_may_start(polyglot)
        (['hdf5'], True)
        >>> identify(b"[PAD]\\n[UNK]\\n", "vocab.txt", 12), identify(b"{}", "c.json", 2)
        (['text'], ['json'])
    """
    kinds: list[str] = []
    magic = _by_magic(head, name, size)
    if magic is not None:
        kinds.append(magic)
    if any(head[o : o + 8] == _HDF5 for o in (0, 512, 1024, 2048)):
        kinds.append(Kind.HDF5)
    if is_tar_header(head):
        kinds.append(Kind.TAR)
    if (_ext(name) == ".safetensors" and len(head) >= 8) or _safetensors_prefix(head, size):
        kinds.append(Kind.SAFETENSORS)  # whatever the header says, validate it as safetensors
    if kinds:
        return kinds
    return [_by_structure(head, name)]


def _by_structure(head: bytes, name: str) -> str:
    """Kinds without a signature: JSON and UBJSON by their first tokens, then by name."""
    ext = _ext(name)
    if ext in (".jinja", ".jinja2", ".j2"):
        return Kind.JINJA
    if _json_like(head):
        return Kind.JSON
    if ext == ".onnx" or _looks_like_onnx(head):
        return Kind.ONNX
    if ext in (".pb", ".pbtxt") or posixpath.basename(name.lower()) == "saved_model.pb":
        return Kind.TF_PB
    if ext in (".yaml", ".yml"):
        return Kind.YAML
    if head and _is_text(head):
        return Kind.TEXT
    if _is_ubjson(head):
        return Kind.UBJSON
    return Kind.UNKNOWN


def sniff(head: bytes, name: str, size: int | None) -> str:
    """The primary :class:`Kind` of content starting with ``head`` (see :func:`identify`).

    Example:
        >>> sniff(b"\\x93NUMPY\\x01\\x00", "weights.bin", 10)
        'npy'
        >>> sniff(b"\\x80\\x04\\x95", "model.safetensors", 3)
        'pickle'
    """
    return identify(head, name, size)[0]


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
    Kind.TEXT,
}

_COMPRESSED_KINDS = {
    Kind.GZIP,
    Kind.BZIP2,
    Kind.XZ,
    Kind.LZMA,
    Kind.ZLIB,
    Kind.LZ4,
    Kind.JOBLIB_ZF,
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
    # A compression extension promises compressed content, not one codec: joblib < 0.10 named
    # its zlib ("ZF") files ``.gz``, and every codec's content is decompressed and scanned.
    ".gz": _COMPRESSED_KINDS,
    ".tgz": _COMPRESSED_KINDS,
    ".bz2": _COMPRESSED_KINDS,
    ".xz": _COMPRESSED_KINDS,
    ".lz4": _COMPRESSED_KINDS,
    ".onnx": {Kind.ONNX},
    ".pkl": _PICKLISH,
    ".pickle": _PICKLISH,
    ".joblib": _PICKLISH,
    ".txt": {Kind.TEXT, Kind.UNKNOWN, Kind.JSON, Kind.YAML},
    ".md": {Kind.TEXT, Kind.UNKNOWN},
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
