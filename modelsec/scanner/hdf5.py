"""A small HDF5 metadata reader: superblock, object headers, groups and string attributes.

Legacy Keras ``.h5`` files keep the model config as a JSON string attribute of the root group.
Searching the file for patterns misses JSON spelled with other spacing and anything past the
searched window, so we read the file the way the HDF5 library does: superblock (versions 0-3),
object headers (v1 and ``OHDR`` v2, with continuation blocks), old-style groups (symbol table:
v1 B-tree + local heap), new-style compact groups (link messages) and attribute messages, whose
variable-length strings live in global heap collections (``GCOL``), and dense storage of
links and attributes (fractal heap + v2 B-tree, :mod:`modelsec.scanner.hdf5_dense`). Only
metadata is read, by offset: the weights are never touched, so memory stays bounded and the
whole file is covered.

What we cannot read exactly (shared messages, filtered heaps, an unknown superblock or message
version, anything malformed) raises :class:`H5Error`, which the caller reports as an error
(fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

__all__ = ["H5Attribute", "H5Error", "H5File", "H5Object", "find_superblock"]

MAGIC = b"\x89HDF\r\n\x1a\n"
_MAX_OBJECTS = 100_000
_MAX_MESSAGES = 100_000
_MAX_BLOCK = 16 << 20  # one object header chunk / local heap / B-tree node
_MAX_ELEMENTS = 100_000  # string elements decoded from one attribute
_MAX_CONTINUATIONS = 100_000  # object header continuation blocks, whole file

# Object header message types used here.
_MSG_DATASPACE = 0x01
_MSG_LINK_INFO = 0x02
_MSG_DATATYPE = 0x03
_MSG_LINK = 0x06
_MSG_EXTERNAL_FILES = 0x07
_MSG_LAYOUT = 0x08
_MSG_ATTRIBUTE = 0x0C
_MSG_CONTINUATION = 0x10
_MSG_SYMBOL_TABLE = 0x11
_MSG_ATTRIBUTE_INFO = 0x15


class H5Error(Exception):
    """Structure this reader cannot follow exactly (malformed or unsupported)."""


@attrs.frozen
class H5Attribute:
    """One attribute: its name and, for string attributes, the decoded element strings."""

    name: str
    #: Decoded strings (``None`` when the attribute is not a string type).
    strings: tuple[bytes, ...] | None


@attrs.define
class H5Object:
    """An object header: its path, attributes, and what it refers to outside the file."""

    path: str
    attributes: list[H5Attribute] = attrs.field(factory=list)
    #: External links, external raw-data files and virtual-dataset sources (file names).
    external: list[str] = attrs.field(factory=list)


def find_superblock(read_at: Callable[[int, int], bytes], size: int) -> int:
    """Offset of the superblock: 0 or a power of two from 512 on (a user block before it).

    Example:
        >>> find_superblock(lambda o, n: (b"x" * 512 + MAGIC)[o : o + n], 520)
        512
    """
    off = 0
    while off + 8 <= size:
        if read_at(off, 8) == MAGIC:
            return off
        off = 512 if off == 0 else off * 2
    raise H5Error("no HDF5 superblock")


class H5File:
    """Random-access reader over ``read_at(offset, n)`` of a file of ``size`` bytes.

    Example:
        >>> H5File(lambda off, n: b"not hdf5"[off : off + n], 8)
        Traceback (most recent call last):
        ...
        modelsec.scanner.hdf5.H5Error: no HDF5 superblock
    """

    def __init__(self, read_at: Callable[[int, int], bytes], size: int) -> None:
        self._read_at = read_at
        self.size = size
        self._heaps: dict[int, dict[int, bytes]] = {}
        self._continuations = 0
        self.heap_bytes = 0
        sb = find_superblock(read_at, size)
        head = self._read(sb, 16)
        version = head[8]
        if version in (0, 1):
            self.so, self.sl = head[13], head[14]
            self._check_sizes()
            pos = sb + (24 if version == 0 else 28)
            entry = pos + 4 * self.so
            self.root = self._addr(entry + self.so)
        elif version in (2, 3):
            self.so, self.sl = head[9], head[10]
            self._check_sizes()
            pos = sb + 12
            self.root = self._addr(pos + 3 * self.so)
        else:
            raise H5Error(f"unsupported superblock version {version}")
        # Addresses are relative to the base address, which the HDF5 library takes to be where
        # it found the superblock whatever the stored field says (H5F__super_read): so do we,
        # or a forged base field would show us other structures than h5py reads.
        self.base = sb
        self.undef = (1 << (8 * self.so)) - 1

    # --- primitives ---------------------------------------------------------------------

    def _check_sizes(self) -> None:
        if self.so not in (2, 4, 8) or self.sl not in (2, 4, 8):
            raise H5Error(f"bad offset/length sizes {self.so}/{self.sl}")

    def _read(self, off: int, n: int) -> bytes:
        if off < 0 or n < 0 or n > _MAX_BLOCK or off + n > self.size:
            raise H5Error(f"structure of {n} bytes at {off} runs past the file")
        data = self._read_at(off, n)
        if len(data) != n:
            raise H5Error(f"short read at {off}")
        return data

    def _addr(self, off: int) -> int:
        return int.from_bytes(self._read(off, self.so), "little")

    def _abs(self, addr: int) -> int:
        if addr == (1 << (8 * self.so)) - 1:
            raise H5Error("undefined address where an object was expected")
        return self.base + addr

    # --- object headers -----------------------------------------------------------------

    def messages(self, addr: int) -> list[tuple[int, int, bytes]]:
        """``(type, flags, data)`` of every message of the object header at ``addr``."""
        off = self._abs(addr)
        if self._read(off, 4) == b"OHDR":
            return self._messages_v2(off)
        head = self._read(off, 16)
        if head[0] != 1:
            raise H5Error(f"unknown object header version {head[0]} at {off}")
        size = int.from_bytes(head[8:12], "little")
        out: list[tuple[int, int, bytes]] = []
        blocks = [(off + 16, size)]
        while blocks:
            start, length = blocks.pop(0)
            block = self._read(start, length)
            pos = 0
            while pos + 8 <= length:
                mtype = int.from_bytes(block[pos : pos + 2], "little")
                msize = int.from_bytes(block[pos + 2 : pos + 4], "little")
                flags = block[pos + 4]
                data = block[pos + 8 : pos + 8 + msize]
                if len(data) != msize:
                    raise H5Error(f"object header message overruns its block at {start + pos}")
                pos += 8 + msize
                self._collect(out, blocks, mtype, flags, data)
        return out

    def _messages_v2(self, off: int) -> list[tuple[int, int, bytes]]:
        head = self._read(off, 6)
        if head[4] != 2:
            raise H5Error(f"unknown OHDR version {head[4]}")
        flags = head[5]
        pos = off + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 3)
        chunk0 = int.from_bytes(self._read(pos, width), "little")
        pos += width
        order = 2 if flags & 0x04 else 0
        out: list[tuple[int, int, bytes]] = []
        blocks = [(pos, chunk0)]
        first = True
        while blocks:
            start, length = blocks.pop(0)
            if not first:
                if self._read(start, 4) != b"OCHK":
                    raise H5Error(f"bad OCHK continuation at {start}")
                start, length = start + 4, length - 8
            first = False
            block = self._read(start, max(length, 0))
            p = 0
            while p + 4 + order <= len(block):
                mtype = block[p]
                msize = int.from_bytes(block[p + 1 : p + 3], "little")
                mflags = block[p + 3]
                data = block[p + 4 + order : p + 4 + order + msize]
                if len(data) != msize:
                    raise H5Error(f"OHDR message overruns its chunk at {start + p}")
                p += 4 + order + msize
                self._collect(out, blocks, mtype, mflags, data)
        return out

    def _collect(
        self,
        out: list[tuple[int, int, bytes]],
        blocks: list[tuple[int, int]],
        mtype: int,
        flags: int,
        data: bytes,
    ) -> None:
        if len(out) >= _MAX_MESSAGES:
            raise H5Error("too many object header messages")
        if mtype == _MSG_CONTINUATION:
            if len(data) < self.so + self.sl:
                raise H5Error("short continuation message")
            cont = int.from_bytes(data[: self.so], "little")
            clen = int.from_bytes(data[self.so : self.so + self.sl], "little")
            self._continuations += 1
            if self._continuations > _MAX_CONTINUATIONS:
                # Also ends continuation cycles (a block continuing into itself).
                raise H5Error(f"more than {_MAX_CONTINUATIONS} object header continuations")
            blocks.append((self._abs(cont), clen))
        out.append((mtype, flags, data))

    # --- groups -------------------------------------------------------------------------

    def objects(self) -> Iterator[H5Object]:
        """Every object reachable from the root group (each once), root first."""
        try:
            yield from self._objects()
        except (IndexError, ValueError, OverflowError) as exc:
            # A field pointing past a message's own bytes: malformed, never a pass.
            raise H5Error(f"malformed object header message ({exc})") from exc

    def _objects(self) -> Iterator[H5Object]:
        seen: set[int] = set()
        queue: list[tuple[int, str]] = [(self.root, "/")]
        while queue:
            addr, path = queue.pop(0)
            if addr in seen:
                continue
            seen.add(addr)
            if len(seen) > _MAX_OBJECTS:
                raise H5Error(f"more than {_MAX_OBJECTS} objects")
            obj = H5Object(path)
            for mtype, flags, data in self.messages(addr):
                if mtype in (_MSG_ATTRIBUTE, _MSG_SYMBOL_TABLE, _MSG_LINK) and flags & 0x02:
                    raise H5Error(f"shared message of type {mtype} in {path}")
                if mtype == _MSG_ATTRIBUTE:
                    obj.attributes.append(self._attribute(data))
                elif mtype == _MSG_SYMBOL_TABLE:
                    for name, child in self._symbol_table(data):
                        queue.append((child, path.rstrip("/") + "/" + name))
                elif mtype == _MSG_LINK:
                    self._link(data, obj, queue)
                elif mtype in (_MSG_LINK_INFO, _MSG_ATTRIBUTE_INFO):
                    self._dense(mtype, data, obj, queue)
                elif mtype == _MSG_EXTERNAL_FILES:
                    obj.external.extend(self._external_files(data))
                elif mtype == _MSG_LAYOUT and len(data) >= 2 and data[0] >= 4 and data[1] == 3:
                    obj.external.append("<virtual dataset sources>")
            yield obj

    def _dense(self, mtype: int, data: bytes, obj: H5Object, queue: list[tuple[int, str]]) -> None:
        """Links or attributes kept in a fractal heap, found through the name-index B-tree."""
        from modelsec.scanner.hdf5_dense import FractalHeap, btree2_records

        if len(data) < 2:
            raise H5Error("short link/attribute info message")
        pos = 2 + ((8 if mtype == _MSG_LINK_INFO else 2) if data[1] & 1 else 0)
        if len(data) < pos + 2 * self.so:
            raise H5Error("short link/attribute info message")
        heap_addr = int.from_bytes(data[pos : pos + self.so], "little")
        index = int.from_bytes(data[pos + self.so : pos + 2 * self.so], "little")
        if heap_addr == self.undef:
            return  # compact storage: the messages are in the object header
        heap = FractalHeap(self, heap_addr)
        if mtype == _MSG_LINK_INFO:
            for record in btree2_records(self, index, 5):  # hash(4) + heap ID(7)
                self._link(heap.get(record[4:11]), obj, queue)
        else:
            for record in btree2_records(self, index, 8):  # heap ID(8) + flags + order + hash
                if record[8] & 0x02:
                    raise H5Error(f"{obj.path}: shared attribute in dense storage")
                obj.attributes.append(self._attribute(heap.get(record[:8])))

    def _symbol_table(self, data: bytes) -> Iterator[tuple[str, int]]:
        if len(data) < 2 * self.so:
            raise H5Error("short symbol table message")
        btree = int.from_bytes(data[: self.so], "little")
        heap = int.from_bytes(data[self.so : 2 * self.so], "little")
        names = self._local_heap(heap)
        nodes = [(btree, 0)]
        visited: set[int] = set()
        while nodes:
            node, depth = nodes.pop()
            if node in visited:
                raise H5Error("group B-tree node reached twice (cycle)")
            visited.add(node)
            if len(visited) > _MAX_OBJECTS or depth > 64:
                raise H5Error("group B-tree too large or too deep")
            off = self._abs(node)
            head = self._read(off, 8 + 2 * self.so)
            if head[:4] != b"TREE" or head[4] != 0:
                raise H5Error(f"bad group B-tree node at {off}")
            level, used = head[5], int.from_bytes(head[6:8], "little")
            pos = off + 8 + 2 * self.so
            body = self._read(pos, used * (self.sl + self.so) + self.sl)
            for i in range(used):
                at = self.sl + i * (self.sl + self.so)
                child = int.from_bytes(body[at : at + self.so], "little")
                if level > 0:
                    nodes.append((child, depth + 1))
                else:
                    yield from self._symbol_node(child, names)

    def _symbol_node(self, addr: int, names: bytes) -> Iterator[tuple[str, int]]:
        off = self._abs(addr)
        head = self._read(off, 8)
        if head[:4] != b"SNOD":
            raise H5Error(f"bad symbol table node at {off}")
        count = int.from_bytes(head[6:8], "little")
        esize = 2 * self.so + 24
        body = self._read(off + 8, count * esize)
        for i in range(count):
            e = body[i * esize : (i + 1) * esize]
            name_off = int.from_bytes(e[: self.so], "little")
            header = int.from_bytes(e[self.so : 2 * self.so], "little")
            yield _cstr(names, name_off).decode("utf-8", "replace"), header

    def _local_heap(self, addr: int) -> bytes:
        off = self._abs(addr)
        head = self._read(off, 8 + 2 * self.sl + self.so)
        if head[:4] != b"HEAP":
            raise H5Error(f"bad local heap at {off}")
        size = int.from_bytes(head[8 : 8 + self.sl], "little")
        data = int.from_bytes(head[8 + 2 * self.sl :], "little")
        return self._read(self._abs(data), size)

    def _link(self, data: bytes, obj: H5Object, queue: list[tuple[int, str]]) -> None:
        if len(data) < 2 or data[0] != 1:
            raise H5Error("unknown link message version")
        flags = data[1]
        pos = 2
        ltype = 0
        if flags & 0x08:
            ltype = data[pos]
            pos += 1
        if flags & 0x04:
            pos += 8
        if flags & 0x10:
            pos += 1
        width = 1 << (flags & 3)
        nlen = int.from_bytes(data[pos : pos + width], "little")
        pos += width
        name = data[pos : pos + nlen].decode("utf-8", "replace")
        pos += nlen
        if ltype == 0:
            if len(data) < pos + self.so:
                raise H5Error("short hard link")
            child = int.from_bytes(data[pos : pos + self.so], "little")
            queue.append((child, obj.path.rstrip("/") + "/" + name))
        elif ltype == 64:
            info = data[pos + 3 :]
            parts = info.split(b"\x00")
            target = b" object ".join(parts[:2]).decode("utf-8", "replace")
            obj.external.append(f"external link {name!r} -> {target}")
        elif ltype != 1:  # soft links resolve inside this file, already walked
            raise H5Error(f"user-defined link type {ltype}")

    def _external_files(self, data: bytes) -> list[str]:
        if len(data) < 8 + self.so:
            raise H5Error("short external data files message")
        used = int.from_bytes(data[6:8], "little")
        heap = self._local_heap(int.from_bytes(data[8 : 8 + self.so], "little"))
        out = []
        for i in range(min(used, 100)):
            at = 8 + self.so + i * 3 * self.sl
            name_off = int.from_bytes(data[at : at + self.sl], "little")
            out.append("raw data file " + _cstr(heap, name_off).decode("utf-8", "replace"))
        return out

    # --- attributes ---------------------------------------------------------------------

    def _attribute(self, data: bytes) -> H5Attribute:
        if len(data) < 8:
            raise H5Error("short attribute message")
        version, flags = data[0], data[1]
        nsize = int.from_bytes(data[2:4], "little")
        tsize = int.from_bytes(data[4:6], "little")
        ssize = int.from_bytes(data[6:8], "little")
        if version == 1:
            pad: Callable[[int], int] = lambda n: (n + 7) & ~7  # noqa: E731
            pos = 8
        elif version in (2, 3):
            pad = lambda n: n  # noqa: E731
            pos = 8 if version == 2 else 9
        else:
            raise H5Error(f"unknown attribute message version {version}")
        name = _cstr(data, pos).decode("utf-8", "replace")
        pos += pad(nsize)
        dtype = data[pos : pos + tsize]
        pos += pad(tsize)
        space = data[pos : pos + ssize]
        pos += pad(ssize)
        if version > 1 and flags & 0x03:
            raise H5Error(f"attribute {name!r} uses a shared datatype or dataspace")
        return H5Attribute(name, self._strings(dtype, space, data[pos:], name))

    def _strings(
        self, dtype: bytes, space: bytes, value: bytes, name: str
    ) -> tuple[bytes, ...] | None:
        if len(dtype) < 8:
            raise H5Error(f"attribute {name!r}: short datatype")
        cls = dtype[0] & 0x0F
        esize = int.from_bytes(dtype[4:8], "little")
        is_vlen_str = cls == 9 and dtype[1] & 0x0F == 1
        if cls != 3 and not is_vlen_str:
            return None
        count = _count(space, self.sl)
        if count > _MAX_ELEMENTS:
            raise H5Error(f"attribute {name!r} has {count} string elements")
        if len(value) < count * esize:
            raise H5Error(f"attribute {name!r}: value shorter than its dataspace")
        out = []
        for i in range(count):
            elem = value[i * esize : (i + 1) * esize]
            if cls == 3:
                # What h5py hands over (numpy ``S``): only trailing NULs dropped. An embedded
                # NUL stays, so the JSON parse fails (closed) rather than judging a prefix.
                out.append(elem.rstrip(b"\x00"))
            else:
                out.append(self._vlen(elem, name))
        return tuple(out)

    def _vlen(self, elem: bytes, name: str) -> bytes:
        if len(elem) < 4 + self.so + 4:
            raise H5Error(f"attribute {name!r}: short variable-length element")
        length = int.from_bytes(elem[:4], "little")
        coll = int.from_bytes(elem[4 : 4 + self.so], "little")
        index = int.from_bytes(elem[4 + self.so : 8 + self.so], "little")
        if length == 0 and (coll == 0 or coll == self.undef):
            return b""
        objs = self._global_heap(coll)
        if index not in objs:
            raise H5Error(f"attribute {name!r}: global heap object {index} missing")
        return objs[index][:length]

    def _global_heap(self, addr: int) -> dict[int, bytes]:
        if addr in self._heaps:
            return self._heaps[addr]
        off = self._abs(addr)
        head = self._read(off, 8 + self.sl)
        if head[:4] != b"GCOL" or head[4] != 1:
            raise H5Error(f"bad global heap collection at {off}")
        size = int.from_bytes(head[8:], "little")
        self.heap_bytes += size
        if size > 80 << 20 or self.heap_bytes > 160 << 20:
            raise H5Error("global heap collections too large")
        blob = b"".join(
            self._read(off + p, min(_MAX_BLOCK, size - p)) for p in range(0, size, _MAX_BLOCK)
        )
        objs: dict[int, bytes] = {}
        pos = 8 + self.sl
        while pos + 8 + self.sl <= size:
            index = int.from_bytes(blob[pos : pos + 2], "little")
            osize = int.from_bytes(blob[pos + 8 : pos + 8 + self.sl], "little")
            if index == 0:
                break
            start = pos + 8 + self.sl
            if start + osize > size:
                raise H5Error(f"global heap object {index} overruns its collection")
            objs[index] = blob[start : start + osize]
            pos = start + ((osize + 7) & ~7)
        self._heaps[addr] = objs
        return objs


def _cstr(data: bytes, off: int) -> bytes:
    end = data.find(b"\x00", off)
    if off >= len(data) or end < 0:
        raise H5Error("unterminated name")
    return data[off:end]


def _count(space: bytes, sl: int) -> int:
    """Number of elements of a dataspace message (scalar 1, null 0)."""
    if len(space) < 4:
        raise H5Error("short dataspace")
    version, ndims = space[0], space[1]
    if version == 1:
        pos = 8
    elif version == 2:
        if space[3] == 2:
            return 0
        pos = 4
    else:
        raise H5Error(f"unknown dataspace version {version}")
    if len(space) < pos + ndims * sl:
        raise H5Error("short dataspace dimensions")
    count = 1
    for i in range(ndims):
        count *= int.from_bytes(space[pos + i * sl : pos + (i + 1) * sl], "little")
        if count > _MAX_ELEMENTS:
            return count
    return count
