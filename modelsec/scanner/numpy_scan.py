"""numpy ``.npy`` (also the members of ``.npz``): header check, and the pickle of object arrays.

The header is a Python dict literal; numpy itself reads it with ``ast.literal_eval``, which
builds literals only and never evaluates code, so we do the same (bounded in size first),
including numpy's second try for headers written by Python 2 (``3L`` longs).
Object arrays (``descr`` ``'O'`` or with object fields) are stored as a pickle right after
the header and are loaded by ``np.load(allow_pickle=True)``: that pickle is walked.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings

from modelsec.scanner.pickles import Family, scan_pickle
from modelsec.scanner.report import FileContext
from modelsec.scanner.source import ByteSource

__all__ = ["scan_npy"]

_MAX_HEADER = 1 << 20  # numpy refuses far less (10 KB by default) without allow_pickle


def _has_object(descr: object) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, list):
        for field in descr:
            if isinstance(field, tuple) and len(field) >= 2 and _has_object(field[1]):
                return True
        return False
    return True  # anything else is not a dtype numpy builds without code: be careful


def _itemsize(descr: str) -> int | None:
    s = descr.lstrip("<>|=")
    if s in ("?", "b1"):
        return 1
    kind, num = s[:1], s[1:]
    if not num.isdigit():
        return None
    return int(num) * (4 if kind == "U" else 1)


def _filter_header(s: str) -> str:
    """numpy's ``_filter_header``: drop the ``L`` of Python 2 longs (``(3L, 4L)``)."""
    tokens = []
    last_token_was_number = False
    for token in tokenize.generate_tokens(io.StringIO(s).readline):
        if last_token_was_number and token.type == tokenize.NAME and token.string == "L":
            continue
        tokens.append(token)
        last_token_was_number = token.type == tokenize.NUMBER
    return str(tokenize.untokenize(tokens))


def _parse_header(text: str, major: int) -> object:
    """The header dict, read as numpy's ``_read_array_header`` reads it.

    ``ast.literal_eval`` first; for format versions 1 and 2 (which Python 2 wrote) numpy then
    retries after :func:`_filter_header`, so ``u'<f8'`` and ``3L`` headers load.

    Example:
        >>> _parse_header("{'descr': u'|O', 'fortran_order': False, 'shape': (2L,), }", 1)
        {'descr': '|O', 'fortran_order': False, 'shape': (2,)}
    """
    with warnings.catch_warnings():  # odd escapes in a hostile header warn, not matter
        warnings.simplefilter("ignore")
        try:
            return ast.literal_eval(text)
        except SyntaxError:
            if major > 2:
                raise
        try:
            filtered = _filter_header(text)
        except (tokenize.TokenError, IndentationError) as exc:
            raise SyntaxError(str(exc)) from None
        return ast.literal_eval(filtered)


def scan_npy(ctx: FileContext, src: ByteSource, location: str, family: str | None) -> None:
    """Check an ``.npy`` stream; walks the embedded pickle of object arrays.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
        >>> blob = b"\\x93NUMPY\\x01\\x00" + len(hdr).to_bytes(2, "little") + hdr + bytes(8)
        >>> ctx = FileContext("a.npy", ScanLimits())
        >>> scan_npy(ctx, ByteSource.from_bytes(blob), "a.npy", None)
        >>> ctx.scanned, ctx.issues
        (True, [])
    """
    ctx.add_format("numpy")
    magic = src.read_exact(8)
    major = magic[6]
    if major == 1:
        hlen = int.from_bytes(src.read_exact(2), "little")
    elif major in (2, 3):
        hlen = int.from_bytes(src.read_exact(4), "little")
    else:
        ctx.add_error(f"{location}: unknown .npy version {major}")
        return
    if hlen > _MAX_HEADER:
        ctx.add_error(f"{location}: .npy header of {hlen} bytes is implausible")
        return
    raw = src.read_exact(hlen)
    try:
        header = _parse_header(raw.decode("utf-8" if major == 3 else "latin-1"), major)
    except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError) as exc:
        ctx.add_error(f"{location}: .npy header is not a literal ({type(exc).__name__})")
        return
    if not isinstance(header, dict) or not {"descr", "shape"} <= set(header):
        ctx.add_error(f"{location}: .npy header lacks descr/shape")
        return
    descr = header["descr"]
    shape = header["shape"]
    if _has_object(descr):
        ctx.add_format("pickle")
        scan_pickle(ctx, src, location, family or Family.PICKLE)
        ctx.scanned = True
        return
    ctx.scanned = True
    if (
        isinstance(descr, str)
        and isinstance(shape, tuple)
        and all(isinstance(d, int) and d >= 0 for d in shape)
    ):
        size = _itemsize(descr)
        remaining = src.remaining()
        if size is not None and remaining is not None:
            count = 1
            for d in shape:
                count *= d
            if count * size > remaining:
                ctx.add_error(
                    f"{location}: array needs {count * size} bytes but only {remaining} follow"
                )
