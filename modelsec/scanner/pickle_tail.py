"""Fallback search for imports spelled in the bytes after junk that ended a pickle walk."""

from __future__ import annotations

import re

from modelsec.scanner.pickle_types import PickleImport
from modelsec.scanner.source import ByteSource

__all__ = ["scan_tail"]


_TAIL_GLOBAL = re.compile(rb"[ci]([A-Za-z_][\w. ]{0,200})\n([A-Za-z_][\w. ]{0,200})\n")


def _stack_global_pairs(window: bytes) -> list[tuple[str, str, int]]:
    """``SHORT_BINUNICODE m, [MEMOIZE], SHORT_BINUNICODE n, [MEMOIZE], STACK_GLOBAL`` runs."""
    out: list[tuple[str, str, int]] = []
    pos = window.find(b"\x93")
    while pos >= 0:
        j = pos
        strings: list[str] = []
        while len(strings) < 2 and j > 2:
            if window[j - 1] == 0x94 or window[j - 2] == 0x71:  # MEMOIZE / BINPUT n
                j -= 1 if window[j - 1] == 0x94 else 2
            found = False
            for n in range(1, min(256, j - 1)):
                k = j - n - 2
                if k >= 0 and window[k] == 0x8C and window[k + 1] == n:
                    try:
                        strings.append(window[k + 2 : j].decode("utf-8"))
                    except UnicodeDecodeError:
                        break
                    j = k
                    found = True
                    break
            if not found:
                break
        if len(strings) == 2 and all(s.replace(".", "_").isidentifier() for s in strings):
            out.append((strings[1], strings[0], pos))
        pos = window.find(b"\x93", pos + 1)
    return out


def scan_tail(src: ByteSource, budget: int, prefix: bytes = b"") -> list[PickleImport]:
    """Imports spelled in the bytes after junk that ended a walk (picklescan-style fallback).

    Some loaders resynchronise or seek past junk; a pickle hidden after garbage is still a
    pickle. This looks for ``GLOBAL``/``INST`` lines and ``STACK_GLOBAL`` string runs in the
    remaining stream (at most ``budget`` bytes), without walking it.

    Example:
        >>> src = ByteSource.from_bytes(b"xx\\x80\\x02cos\\nsystem\\n")
        >>> [(i.module, i.name) for i in scan_tail(src, 99)]
        [('os', 'system')]
    """
    out: list[PickleImport] = []
    seen: set[tuple[str, str]] = set()
    tail = b""
    read = 0
    pending = prefix
    while read < budget:
        start = src.pos - len(tail) - len(pending)
        chunk = pending or src.read_chunk()
        pending = b""
        if not chunk:
            break
        read += len(chunk)
        window = tail + chunk
        for m in _TAIL_GLOBAL.finditer(window):
            key = (m.group(1).decode("ascii"), m.group(2).decode("ascii"))
            if key not in seen:
                seen.add(key)
                out.append(PickleImport(key[0], key[1], start + m.start(), "GLOBAL"))
        for mod, name, pos in _stack_global_pairs(window):
            if (mod, name) not in seen:
                seen.add((mod, name))
                out.append(PickleImport(mod, name, start + pos, "STACK_GLOBAL"))
        tail = window[-1024:]
        if len(out) > 1000:
            break
    return out
