"""HDF5 dense storage: version 2 B-trees and fractal heaps (links and attributes of new groups).

Files written with ``libver="latest"`` (or groups with many links or attributes, or one
attribute over 64 KiB) keep their link and attribute messages in a fractal heap indexed by a
v2 B-tree instead of the object header. h5py reads them transparently, so a scanner must too.
We walk the name-index B-tree (every record, no hashing) and fetch each heap object: managed
objects from the doubling table of direct/indirect blocks, tiny objects from the ID itself,
huge objects directly or through their own B-tree. Filtered (compressed) heaps are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

__all__ = ["FractalHeap", "btree2_records"]

_MAX_NODES = 100_000
_MAX_DEPTH = 64


class _Base(Protocol):
    """What we need from :class:`modelsec.scanner.hdf5.H5File`."""

    so: int
    sl: int
    undef: int

    def _read(self, off: int, n: int) -> bytes: ...

    def _abs(self, addr: int) -> int: ...


def _error(message: str) -> Exception:
    from modelsec.scanner.hdf5 import H5Error

    return H5Error(message)


def _int(data: bytes, pos: int, size: int) -> int:
    if pos + size > len(data):
        raise _error("dense storage structure truncated")
    return int.from_bytes(data[pos : pos + size], "little")


def _enc_size(value: int) -> int:
    """Bytes HDF5 uses to encode counts up to ``value`` (``H5VM_limit_enc_size``)."""
    return (max(value, 1).bit_length() - 1) // 8 + 1


def btree2_records(h5: _Base, addr: int, expect_type: int) -> Iterator[bytes]:
    """Every record of the version 2 B-tree whose header is at ``addr``.

    Example:
        >>> class Zeros:
        ...     so, sl, undef = 8, 8, 2**64 - 1
        ...     def _read(self, off: int, n: int) -> bytes: return bytes(n)
        ...     def _abs(self, addr: int) -> int: return addr
        >>> next(btree2_records(Zeros(), 0, 8))
        Traceback (most recent call last):
        ...
        modelsec.scanner.hdf5.H5Error: bad v2 B-tree header at 0
    """
    off = h5._abs(addr)
    head = h5._read(off, 16 + h5.so + 2 + h5.sl)
    if head[:4] != b"BTHD" or head[4] != 0:
        raise _error(f"bad v2 B-tree header at {off}")
    if head[5] != expect_type:
        raise _error(f"v2 B-tree of type {head[5]} where {expect_type} was expected")
    node_size = _int(head, 6, 4)
    rec = _int(head, 10, 2)
    depth = _int(head, 12, 2)
    root = _int(head, 16, h5.so)
    root_n = _int(head, 16 + h5.so, 2)
    if rec == 0 or node_size < 16 or depth > _MAX_DEPTH:
        raise _error("implausible v2 B-tree header")
    # Field widths of the internal nodes' child pointers, as H5B2__hdr_init derives them.
    max_nrec = [(node_size - 10) // rec]
    cum = [max_nrec[0]]
    cum_size = [0]
    nrec_size = _enc_size(max_nrec[0])
    for d in range(1, depth + 1):
        ptr = h5.so + nrec_size + (cum_size[d - 1] if d > 1 else 0)
        n = (node_size - (10 + ptr)) // (rec + ptr)
        if n <= 0:
            raise _error("v2 B-tree nodes too small for their depth")
        max_nrec.append(n)
        cum.append((n + 1) * cum[d - 1] + n)
        cum_size.append(_enc_size(cum[d]))
    if root == h5.undef or root_n == 0:
        return
    stack = [(root, root_n, depth)]
    seen: set[int] = set()
    while stack:
        node, n, d = stack.pop()
        if node in seen or len(seen) > _MAX_NODES:
            raise _error("v2 B-tree cycle or too many nodes")
        seen.add(node)
        if n > max_nrec[d]:
            raise _error("v2 B-tree node holds more records than fit")
        noff = h5._abs(node)
        data = h5._read(noff, node_size)
        sig = b"BTLF" if d == 0 else b"BTIN"
        if data[:4] != sig:
            raise _error(f"bad v2 B-tree node at {noff}")
        for i in range(n):
            yield data[6 + i * rec : 6 + (i + 1) * rec]
        if d == 0:
            continue
        pos = 6 + n * rec
        csize = cum_size[d - 1] if d > 1 else 0
        for _ in range(n + 1):
            child = _int(data, pos, h5.so)
            cn = _int(data, pos + h5.so, nrec_size)
            pos += h5.so + nrec_size + csize
            stack.append((child, cn, d - 1))


class FractalHeap:
    """Objects of the fractal heap whose header is at ``addr``, by heap ID.

    Example:
        >>> class Zeros:
        ...     so, sl, undef = 8, 8, 2**64 - 1
        ...     def _read(self, off: int, n: int) -> bytes: return bytes(n)
        ...     def _abs(self, addr: int) -> int: return addr
        >>> FractalHeap(Zeros(), 0)
        Traceback (most recent call last):
        ...
        modelsec.scanner.hdf5.H5Error: bad fractal heap header at 0
    """

    def __init__(self, h5: _Base, addr: int) -> None:
        self.h5 = h5
        so, sl = h5.so, h5.sl
        off = h5._abs(addr)
        size = 4 + 1 + 2 + 2 + 1 + 4 + sl + so + sl + so + 8 * sl + 2 + sl + sl + 2 + 2 + so + 2
        head = h5._read(off, size)
        if head[:4] != b"FRHP" or head[4] != 0:
            raise _error(f"bad fractal heap header at {off}")
        self.id_len = _int(head, 5, 2)
        if _int(head, 7, 2):
            raise _error("filtered (compressed) fractal heap is not supported")
        self.flags = head[9]
        self.max_man = _int(head, 10, 4)
        pos = 14 + sl
        self.huge_btree = _int(head, pos, so)
        pos += so + sl + so + 8 * sl
        self.width = _int(head, pos, 2)
        self.start = _int(head, pos + 2, sl)
        self.max_direct = _int(head, pos + 2 + sl, sl)
        self.max_heap_bits = _int(head, pos + 2 + 2 * sl, 2)
        pos += 2 + 2 * sl + 2 + 2
        self.root = _int(head, pos, so)
        self.root_rows = _int(head, pos + so, 2)
        for v in (self.width, self.start, self.max_direct):
            if v <= 0 or v & (v - 1):
                raise _error("fractal heap doubling table is not made of powers of two")
        self.off_size = (self.max_heap_bits + 7) // 8
        dblock_off_size = (self.max_direct.bit_length() - 1 + 7) // 8
        self.len_size = min(dblock_off_size, _enc_size(self.max_man))
        self.max_direct_rows = (self.max_direct.bit_length() - self.start.bit_length()) + 2
        self._blocks = 0
        self._huge_index: dict[int, tuple[int, int]] | None = None
        if self.root_rows > 64 or self.max_heap_bits > 64:
            raise _error("fractal heap larger than any file")

    def get(self, heap_id: bytes) -> bytes:
        """The object named by ``heap_id``."""
        if not heap_id:
            raise _error("empty heap ID")
        kind = (heap_id[0] >> 4) & 3
        if heap_id[0] & 0xC0:
            raise _error("unknown heap ID version")
        if kind == 0:
            off = _int(heap_id, 1, self.off_size)
            length = _int(heap_id, 1 + self.off_size, self.len_size)
            return self._managed(off, length)
        if kind == 2:
            length = (heap_id[0] & 0x0F) + 1
            if self.id_len > 18 or 1 + length > len(heap_id):
                raise _error("extended tiny heap objects are not supported")
            return heap_id[1 : 1 + length]
        if kind == 1:
            return self._huge(heap_id)
        raise _error("unknown heap object type")

    def _huge(self, heap_id: bytes) -> bytes:
        h5 = self.h5
        if self.id_len >= 1 + h5.so + h5.sl:  # address and length stored in the ID
            addr = _int(heap_id, 1, h5.so)
            length = _int(heap_id, 1 + h5.so, h5.sl)
            return h5._read(h5._abs(addr), length)
        key = _int(heap_id, 1, min(self.id_len - 1, h5.sl))
        if self._huge_index is None:
            # Read the huge-object B-tree once (a lookup per record would be quadratic).
            self._huge_index = {}
            for record in btree2_records(h5, self.huge_btree, 1):
                self._huge_index[_int(record, h5.so + h5.sl, h5.sl)] = (
                    _int(record, 0, h5.so),
                    _int(record, h5.so, h5.sl),
                )
        if key not in self._huge_index:
            raise _error(f"huge heap object {key} not in its B-tree")
        addr, length = self._huge_index[key]
        return h5._read(h5._abs(addr), length)

    def _row_size(self, row: int) -> int:
        return self.start if row == 0 else self.start << (row - 1)

    def _managed(self, off: int, length: int) -> bytes:
        h5 = self.h5
        block, block_off, rows = self.root, 0, self.root_rows
        for _ in range(_MAX_DEPTH):
            if block == h5.undef:
                raise _error("managed heap object in an unallocated block")
            if rows == 0:  # a direct block
                size = self.start if block == self.root else 0
                return self._direct(block, block_off, off, length, size)
            # Find the row and column of the offset in this indirect block.
            rel = off - block_off
            row, start = 0, 0
            while row < rows:
                span = self._row_size(row) * self.width
                if rel < start + span:
                    break
                start += span
                row += 1
            else:
                raise _error("managed heap offset beyond its indirect block")
            col = (rel - start) // self._row_size(row)
            entry = row * self.width + col
            direct_rows = min(rows, self.max_direct_rows)
            ib = h5._abs(block)
            entry_off = ib + 4 + 1 + h5.so + self.off_size
            if row < direct_rows:
                child = h5._read(entry_off + entry * h5.so, h5.so)
                child_addr = int.from_bytes(child, "little")
                child_off = block_off + start + col * self._row_size(row)
                if h5._read(ib, 4) != b"FHIB":
                    raise _error(f"bad fractal heap indirect block at {ib}")
                return self._direct(child_addr, child_off, off, length, self._row_size(row))
            # Indirect entries follow the direct ones: same row-major numbering.
            block = int.from_bytes(h5._read(entry_off + entry * h5.so, h5.so), "little")
            block_off = block_off + start + col * self._row_size(row)
            rows = self._row_size(row).bit_length() - (self.start * self.width).bit_length() + 1
            if not 0 < rows <= 64:
                raise _error("fractal heap indirect block of impossible size")
        raise _error("fractal heap nested too deeply")

    def _direct(self, addr: int, block_off: int, off: int, length: int, size: int) -> bytes:
        h5 = self.h5
        self._blocks += 1
        if addr == h5.undef:
            raise _error("managed heap object in an unallocated direct block")
        doff = h5._abs(addr)
        if h5._read(doff, 4) != b"FHDB":
            raise _error(f"bad fractal heap direct block at {doff}")
        rel = off - block_off
        if rel < 0 or (size and rel + length > size):
            raise _error("managed heap object overruns its direct block")
        return h5._read(doff + rel, length)
