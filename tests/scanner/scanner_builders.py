"""Pure-Python builders of model files for the scanner tests.

Malicious pickles are written opcode by opcode (never by pickling live callables) and are
never loaded: the scanner only reads them.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

# --- pickle opcodes -------------------------------------------------------------------------

PROTO = lambda n: b"\x80" + bytes([n])  # noqa: E731
MARK = b"("
STOP = b"."
REDUCE = b"R"
BUILD = b"b"
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
TUPLE3 = b"\x87"
EMPTY_TUPLE = b")"
EMPTY_DICT = b"}"
EMPTY_LIST = b"]"
SETITEMS = b"u"
SETITEM = b"s"
APPENDS = b"e"
MEMOIZE = b"\x94"
STACK_GLOBAL = b"\x93"
NEWOBJ = b"\x81"
OBJ = b"o"
NONE = b"N"
NEWFALSE = b"\x89"
BINPERSID = b"Q"


def glob(module: str, name: str) -> bytes:
    """Protocol 0 GLOBAL."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def inst(module: str, name: str) -> bytes:
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def su(s: str) -> bytes:
    """SHORT_BINUNICODE."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def bu(s: str) -> bytes:
    """BINUNICODE."""
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def string0(s: str) -> bytes:
    """Protocol 0 STRING."""
    return b"S'" + s.encode() + b"'\n"


def binint1(n: int) -> bytes:
    return b"K" + bytes([n])


def binint(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def binput(i: int) -> bytes:
    return b"q" + bytes([i])


def binget(i: int) -> bytes:
    return b"h" + bytes([i])


def long_binget(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def binbytes(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def frame(body: bytes) -> bytes:
    return b"\x95" + struct.pack("<Q", len(body)) + body


def call(module: str, name: str, *args: bytes, proto: int = 2) -> bytes:
    """A complete pickle calling module.name(*args)."""
    return PROTO(proto) + glob(module, name) + MARK + b"".join(args) + TUPLE + REDUCE + STOP


def stack_global_call(module: str, name: str, arg: str = "id") -> bytes:
    return (
        PROTO(4)
        + su(module)
        + MEMOIZE
        + su(name)
        + MEMOIZE
        + STACK_GLOBAL
        + MEMOIZE
        + (su(arg) + TUPLE1 + REDUCE + STOP)
    )


def rebuild_tensor(key: str, storage_key: str = "0", proto: int = 2) -> bytes:
    """A tensor as torch.save writes it: _rebuild_tensor_v2(persistent storage, ...)."""
    return (
        glob("torch._utils", "_rebuild_tensor_v2")
        + MARK
        + MARK
        + su("storage")
        + glob("torch", "FloatStorage")
        + su(storage_key)
        + su("cpu")
        + binint1(4)
        + TUPLE
        + BINPERSID
        + binint1(0)
        + binint1(2)
        + binint1(2)
        + TUPLE2
        + binint1(2)
        + binint1(1)
        + TUPLE2
        + NEWFALSE
        + glob("collections", "OrderedDict")
        + EMPTY_TUPLE
        + REDUCE
        + TUPLE
        + REDUCE
    )


def torch_state_dict_pickle(n: int = 2) -> bytes:
    body = PROTO(2) + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + MARK
    for k in range(n):
        body += su(f"layer{k}.weight") + rebuild_tensor(f"layer{k}", str(k))
    return body + SETITEMS + STOP


# --- containers -----------------------------------------------------------------------------


def zip_bytes(
    members: Iterable[tuple[str, bytes]],
    *,
    compression: int = zipfile.ZIP_STORED,
) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", compression) as zf:
        warnings.simplefilter("ignore")  # duplicate names are wanted in some cases
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buf.getvalue()


def zip_with_symlink(name: str, target: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o120777 << 16
        zf.writestr(info, target)
    return buf.getvalue()


def torch_zip(
    data_pkl: bytes, prefix: str = "archive", *, extra: Mapping[str, bytes] = {}, storages: int = 2
) -> bytes:
    members = [(f"{prefix}/data.pkl", data_pkl), (f"{prefix}/version", b"3\n")]
    members += [(f"{prefix}/data/{k}", struct.pack("<4f", 1, 2, 3, 4)) for k in range(storages)]
    members += [(f"{prefix}/{k}", v) for k, v in extra.items()]
    return zip_bytes(members)


def corrupt_crc(blob: bytes, member: str) -> bytes:
    """Break the CRC of ``member`` in both headers (torch's miniz still reads it)."""
    out = bytearray(blob)
    name = member.encode()
    for sig, crc_off, name_off in ((b"PK\x03\x04", 14, 30), (b"PK\x01\x02", 16, 46)):
        pos = out.find(sig)
        while pos >= 0:
            if out[pos + name_off : pos + name_off + len(name)] == name:
                struct.pack_into("<I", out, pos + crc_off, 0xDEADBEEF)
            pos = out.find(sig, pos + 4)
    return bytes(out)


def set_encrypted_flag(blob: bytes) -> bytes:
    """Set general purpose bit 0 (encrypted) on every entry; miniz ignores it for stored data."""
    out = bytearray(blob)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = 0
        while True:
            pos = out.find(sig, pos)
            if pos < 0:
                break
            out[pos + off] |= 1
            pos += 4
    return bytes(out)


def legacy_torch(main_pickle: bytes) -> bytes:
    magic = PROTO(2) + b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + STOP
    version = PROTO(2) + binint(1001) + STOP
    sys_info = PROTO(2) + EMPTY_DICT + STOP
    keys = PROTO(2) + MARK + su("0") + TUPLE + STOP
    return magic + version + sys_info + main_pickle + keys + struct.pack("<q", 4) + bytes(16)


def npy(descr: str, shape: tuple[int, ...], data: bytes) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(header) + 1) % 64
    header += " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def safetensors(
    tensors: Mapping[str, tuple[str, list[int], bytes]],
    metadata: Mapping[str, str] | None = None,
    *,
    raw_header: bytes | None = None,
    data: bytes | None = None,
) -> bytes:
    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    blob = b""
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(blob), len(blob) + len(payload)],
        }
        blob += payload
    hdr = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(hdr)) + hdr + (blob if data is None else data)


def gguf_string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf(
    kvs: Mapping[str, object],
    tensors: Iterable[tuple[str, list[int], int]] = (),
    *,
    n_kv: int | None = None,
    n_tensors: int | None = None,
) -> bytes:
    body = b""
    for key, value in kvs.items():
        body += gguf_string(key)
        if isinstance(value, str):
            body += struct.pack("<I", 8) + gguf_string(value)
        elif isinstance(value, list):
            body += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(gguf_string(v) for v in value)
        else:
            assert isinstance(value, int)
            body += struct.pack("<II", 4, value)
    tl = list(tensors)
    for name, dims, offset in tl:
        body += gguf_string(name) + struct.pack("<I", len(dims))
        body += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", 0, offset)
    head = b"GGUF" + struct.pack(
        "<IQQ", 3, len(tl) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv
    )
    out = head + body
    out += bytes(-len(out) % 32) + bytes(64 * max(1, len(tl)))
    return out


_EMPTY_H5 = Path(__file__).parent / "data" / "keras" / "empty.weights.h5"


def keras_zip(config: object) -> bytes:
    return zip_bytes(
        [
            ("metadata.json", json.dumps({"keras_version": "3.5.0"}).encode()),
            ("config.json", json.dumps(config).encode()),
            # A real (empty) HDF5 file: the scanner parses HDF5 and fails closed on fakes.
            ("model.weights.h5", _EMPTY_H5.read_bytes()),
        ],
        compression=zipfile.ZIP_DEFLATED,
    )


def dense(name: str) -> dict[str, object]:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": name, "units": 4},
        "registered_name": None,
    }


def sequential(layers: list[object]) -> dict[str, object]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "seq", "layers": layers},
        "registered_name": None,
    }


# --- protobuf -------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb(field: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return varint(field << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(field << 3 | 2) + varint(len(data)) + data


def onnx_model(
    nodes: list[tuple[str, str]], *, external: str | None = None, weights: int = 0
) -> bytes:
    graph = b"".join(pb(1, pb(1, "x") + pb(2, "y") + pb(4, op) + pb(7, dom)) for op, dom in nodes)
    tensor = pb(1, 4) + pb(2, 1) + pb(8, "w")
    if weights:
        tensor += pb(9, bytes(weights))
    if external is not None:
        tensor += pb(13, pb(1, "location") + pb(2, external)) + pb(14, 1)
    graph += pb(5, tensor) + pb(2, "g")
    return pb(1, 8) + pb(2, "pytorch") + pb(8, pb(1, "") + pb(2, 17)) + pb(7, graph)


def saved_model(ops: list[str]) -> bytes:
    graph = b"".join(pb(1, pb(1, f"n{k}") + pb(2, op)) for k, op in enumerate(ops))
    fn = pb(1, pb(3, pb(1, "f") + pb(2, "Identity")))
    return pb(1, 1) + pb(2, pb(2, graph + pb(2, fn)))


# --- compression ----------------------------------------------------------------------------


def tar_bytes(
    members: Iterable[tuple[str, bytes]],
    *,
    links: Mapping[str, str] = {},
    hardlinks: Mapping[str, str] = {},
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
        for name, target in hardlinks.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.LNKTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def bz(data: bytes) -> bytes:
    return bz2.compress(data)


def xz(data: bytes) -> bytes:
    return lzma.compress(data)


def zl(data: bytes) -> bytes:
    return zlib.compress(data)


def gzip_bomb(total: int, prefix: bytes = b"") -> bytes:
    """gzip of ``prefix`` + ``total`` zero bytes, built chunk by chunk (cheap)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zero = bytes(1 << 20)
    parts = [comp.compress(prefix)] + [comp.compress(zero) for _ in range(total >> 20)]
    return b"".join(parts) + comp.flush()


def zip_bomb_member(total: int) -> bytes:
    """A zip with one deflated member of ``total`` zeros (true header sizes)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zero = bytes(1 << 20)
    data = b"".join(comp.compress(zero) for _ in range(total >> 20)) + comp.flush()
    crc = 0
    for _ in range(total >> 20):
        crc = zlib.crc32(zero, crc)
    name = b"zeros.bin"
    local = (
        struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), total, len(name), 0
        )
        + name
    )
    central = (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            len(data),
            total,
            len(name),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        + name
    )
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0
    )
    return local + data + central + end
