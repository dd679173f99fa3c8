"""Streaming pickle opcode walker: finds every callable a pickle imports, never unpickling.

Why our own walker instead of :func:`pickletools.genops`: ``genops`` materialises every
argument (a 2 GiB ``BINBYTES`` becomes a 2 GiB ``bytes``) and knows nothing of the stack, so it
cannot resolve ``STACK_GLOBAL`` names that come from the memo. The walker
(:mod:`modelsec.scanner.pickle_walker`) is CPython's ``pickle._Unpickler`` opcode for opcode
(same argument parsing, stack, MARK metastack and memo), building tracked stand-ins instead of
objects, and takes the union where the C unpickler or a loader would go further:

* it reads the stream in 1 MiB chunks and *skips* large payloads (seek on files); its own
  structures are bounded by a budget, so memory stays flat whatever the input;
* it resolves ``GLOBAL``, ``STACK_GLOBAL`` (names from the stack or the memo), ``INST`` and
  ``OBJ`` exactly as :mod:`pickle` does, and records the calls the unpickler would make;
* it continues after ``STOP`` (several pickles in one stream, as ``torch`` legacy files and
  hand-rolled loaders read them, each with a fresh memo or one shared memo: both are followed),
  and treats undecodable bytes after a ``STOP`` as a tail, while reporting everything imported
  before the junk or the truncation;
* it follows joblib's raw array bytes that sit *between* opcodes (``NumpyArrayWrapper``), sized
  exactly as joblib sizes them, and walks object arrays as nested pickles with their own memo
  (:mod:`modelsec.scanner.pickle_joblib`).

Anything it cannot resolve (a computed module name, an untracked value, an extension code, a
joblib payload it cannot size) is reported as unresolved, which the caller treats as unsafe:
fail closed.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterable, Iterator

from modelsec.scanner.pickle_tail import scan_tail
from modelsec.scanner.pickle_types import (
    UNKNOWN,
    GlobalRef,
    PickleCall,
    PickleImport,
    PickleResult,
)
from modelsec.scanner.pickle_walker import OPCODE_NAMES, Walker
from modelsec.scanner.source import ByteSource

__all__ = [
    "OPCODE_ARGS",
    "UNKNOWN",
    "GlobalRef",
    "PickleCall",
    "PickleImport",
    "PickleResult",
    "iter_dotted",
    "scan_tail",
    "walk_pickle",
]

# Argument layout per opcode: >=0 fixed size, -1 newline-terminated line, -2 two lines,
# -11/-14/-18 length prefix of 1/4/8 bytes followed by that many bytes.
# Checked against pickletools' metadata in the tests.
_ARGS: dict[str, int] = {
    "FLOAT": -1,
    "INT": -1,
    "BININT": 4,
    "BININT1": 1,
    "LONG": -1,
    "BININT2": 2,
    "PERSID": -1,
    "STRING": -1,
    "BINSTRING": -14,
    "SHORT_BINSTRING": -11,
    "UNICODE": -1,
    "BINUNICODE": -14,
    "GLOBAL": -2,
    "GET": -1,
    "BINGET": 1,
    "INST": -2,
    "LONG_BINGET": 4,
    "PUT": -1,
    "BINPUT": 1,
    "LONG_BINPUT": 4,
    "BINFLOAT": 8,
    "PROTO": 1,
    "EXT1": 1,
    "EXT2": 2,
    "EXT4": 4,
    "LONG1": -11,
    "LONG4": -14,
    "BINBYTES": -14,
    "SHORT_BINBYTES": -11,
    "SHORT_BINUNICODE": -11,
    "BINUNICODE8": -18,
    "BINBYTES8": -18,
    "FRAME": 8,
    "BYTEARRAY8": -18,
}
OPCODE_ARGS: dict[int, int] = {code: _ARGS.get(name, 0) for code, name in OPCODE_NAMES.items()}


def walk_pickle(
    src: ByteSource,
    *,
    max_pickles: int | None = None,
    probe: bool = False,
) -> PickleResult:
    """Walk the pickle opcodes of ``src`` from its current position.

    ``max_pickles`` stops after that many complete pickles (``None``: until the stream ends or
    stops looking like a pickle). ``probe`` is for content of unknown type: it gives up at the
    first oddity instead of reporting it.

    The result lists ``imports`` (every ``find_class``), ``unresolved`` imports (unsafe),
    and ``calls``: each :class:`PickleCall` the unpickler would make with a resolved global as
    the callable (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST, and BUILD, i.e. a ``__setstate__``),
    with shallow arguments where :data:`UNKNOWN` stands for what the walker does not track.

    Example:
        >>> res = walk_pickle(ByteSource.from_bytes(b"cos\\nsystem\\n(S'id'\\ntR."))
        >>> [(i.module, i.name) for i in res.imports], res.pickles
        ([('os', 'system')], 1)
        >>> res.calls
        [PickleCall('os', 'system', ('id',), offset=19, opcode='REDUCE')]
    """
    # The walker's stand-ins hold no reference cycles worth collecting during a walk, and the
    # cyclic collector's passes over millions of live tuples made floods quadratic: it is
    # paused here, and the walker collects when its structure budget runs out.
    with _collector_paused():
        return Walker(src, max_pickles=max_pickles, probe=probe).run()


_gc_lock = threading.Lock()
_gc_walks = 0  # walks in progress in this process (scan_many scans in threads)
_gc_was_enabled = False


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic collector while any walk runs; restore it when the last one ends.

    Counted across threads (``scan_many`` walks in several): the collector stays paused until
    the last overlapping walk ends instead of coming back on under a walk still running, is
    always restored, and stays off when the application itself had turned it off.
    """
    global _gc_walks, _gc_was_enabled
    with _gc_lock:
        if _gc_walks == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_walks += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_walks -= 1
            if _gc_walks == 0 and _gc_was_enabled:
                gc.enable()


def iter_dotted(res: PickleResult) -> Iterable[tuple[str, str]]:
    """``(module, name)`` pairs of the imports of ``res`` (a convenience for callers).

    Example:
        >>> list(iter_dotted(walk_pickle(ByteSource.from_bytes(b"cos\\nsystem\\n."))))
        [('os', 'system')]
    """
    for imp in res.imports:
        yield imp.module, imp.name
