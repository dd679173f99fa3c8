"""Files a loader *executes* or *instantiates from*: routed by name before content sniffing.

:func:`route_by_name` is the one hook :mod:`modelsec.scanner.dispatch` calls first: Python
source (``.py``), YAML configurations, MLflow ``MLmodel``, a TorchServe archive's
``MAR-INF/MANIFEST.json`` and a skops archive's ``schema.json`` are judged here; everything else
goes on to the content sniffer. Python findings use the ``PY`` threat family: ``PAIT-PY-100``
(runs at load), ``PAIT-PY-300`` (runs at inference, reported for files a loader executes).
"""

from __future__ import annotations

import posixpath

from modelsec.scanner.pysource import Call, ModuleInfo, parse_module
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = [
    "MAX_SOURCE_BYTES",
    "PY_LOAD",
    "PY_RUNTIME",
    "parse_source",
    "report_calls",
    "route_by_name",
    "scan_python",
]

PY_LOAD = "PAIT-PY-100"
PY_RUNTIME = "PAIT-PY-300"

#: Larger source files are not analysed (fail closed): real modeling files are far smaller.
MAX_SOURCE_BYTES = 8 << 20

# Categories that are a finding on their own; "credential read" needs a network call beside it
# (exfiltration) unless it reads a credentials *file*.
_ALWAYS = frozenset(
    {
        "process",
        "native code",
        "network",
        "remote code",
        "dynamic code",
        "package installation",
        "file system write",
    }
)


def parse_source(data: bytes, location: str) -> ModuleInfo | str:
    """The parsed module, or why it could not be parsed.

    Example:
        >>> parse_source(b"def f(:\\n", "m.py")
        'invalid Python (line 1: invalid syntax)'
    """
    try:
        return parse_module(data, location)
    except SyntaxError as exc:
        return f"invalid Python (line {exc.lineno}: {exc.msg})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"cannot parse Python ({type(exc).__name__})"


def report_calls(
    ctx: FileContext, calls: list[Call], location: str, threat: str, when: str, via: str = ""
) -> int:
    """Add the calls that are findings to ``ctx``; returns how many were reported.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.py", ScanLimits())
        >>> report_calls(ctx, parse_module("import os\\nos.system('id')").import_time_calls(),
        ...              "m.py", PY_LOAD, "at load")
        1
    """
    network = any(c.category == "network" for c in calls)
    secrets = [c for c in calls if c.category == "credential read"]
    n = 0
    for c in calls:
        if c.category == "credential read":
            if not (network or c.reason == "reads a credentials file"):
                continue
            what = "reads credentials" + (" and sends them over the network" if network else "")
        else:
            if c.category not in _ALWAYS:
                continue
            what = c.category
            if c.category == "network" and secrets:
                what = "network access with credentials read beside it (exfiltration)"
            if c.obfuscated:
                what += ", obfuscated (decodes then executes)"
            if c.detail:
                what += f": {printable(c.detail, 80)}"
        module, _, name = c.dotted.rpartition(".")
        ctx.add_issue(
            f"Python code runs {what} {when}: {printable(c.dotted)} ({c.reason}) in "
            f"{printable(c.scope)} line {c.line}{via}",
            location,
            threat,
            module or None,
            name,
        )
        n += 1
    return n


def scan_python(ctx: FileContext, src: ByteSource, location: str, *, executed: bool) -> bool:
    """Judge one ``.py``: what runs when it is imported or its classes are constructed.

    ``executed`` is true when a loader certainly runs the file (a TorchServe handler, code in
    an archive): code in other functions is then reported too (``PAIT-PY-300``) and a file
    that does not parse fails closed. Returns ``False`` when the content is not Python at all
    and the file was not known to be executed, so the caller can sniff it as something else.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.py", ScanLimits())
        >>> scan_python(ctx, ByteSource.from_bytes(b"import torch\\nx = torch.zeros(2)\\n"),
        ...             "m.py", executed=False), ctx.issues
        (True, [])
    """
    data = src.peek(MAX_SOURCE_BYTES + 1)  # peek: if this is not Python, the sniffer reads it
    if len(data) > MAX_SOURCE_BYTES:
        ctx.add_error(
            f"{location}: Python source larger than {MAX_SOURCE_BYTES} bytes not analysed"
        )
        return True
    parsed = parse_source(data, location)
    if isinstance(parsed, str):
        if not executed:
            # Nothing imports a file Python cannot compile; the repository pass fails closed
            # when a loader would execute it. Let the sniffer look at what it really is.
            return False
        ctx.add_error(f"{location}: {parsed}")
        return True
    ctx.scanned = True
    load_fns = parsed.load_time_functions()
    report_calls(ctx, parsed.load_time_calls(), location, PY_LOAD, "at load")
    if executed:
        scopes = {s for s, _ in load_fns}
        report_calls(ctx, parsed.runtime_calls(scopes), location, PY_RUNTIME, "when called")
    return True


def routes_name(name: str) -> bool:
    """Whether :func:`route_by_name` may take content of this name (by name alone).

    Example:
        >>> routes_name("conf/model.yaml"), routes_name("MLmodel"), routes_name("w.bin")
        (True, True, False)
    """
    lower = name.lower().replace("\\", "/")
    base = posixpath.basename(lower)
    return lower.endswith((".py", ".yaml", ".yml", "mar-inf/manifest.json")) or base in (
        "mlmodel",
        "schema.json",
    )


def route_by_name(ctx: FileContext, src: ByteSource, name: str, location: str) -> bool:
    """Judge ``src`` by its name when it is code or configuration a loader acts on.

    Returns ``True`` when the content was handled here (the sniffer must not look again).

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("x.yaml", ScanLimits())
        >>> route_by_name(ctx, ByteSource.from_bytes(b"a: !!python/name:os.system"),
        ...               "x.yaml", "x.yaml"), ctx.issues[0].threat
        (True, 'PAIT-CFG-100')
    """
    lower = name.lower().replace("\\", "/")
    base = posixpath.basename(lower)
    if lower.endswith(".py"):
        head = src.peek(2)
        if head[:1] == b"\x80" or head[:2] == b"PK":
            return False  # binary content named .py: the sniffer reports the disguise
        return scan_python(ctx, src, location, executed="!" in location)
    if lower.endswith((".yaml", ".yml")) or base == "mlmodel":
        from modelsec.scanner.configs import scan_yaml

        return scan_yaml(ctx, src, name, location)
    if base == "manifest.json" and lower.endswith("mar-inf/manifest.json"):
        from modelsec.scanner.configs import scan_mar_manifest

        return scan_mar_manifest(ctx, src, location)
    if base == "schema.json" and "!" in location:
        from modelsec.scanner.configs import scan_skops_schema

        return scan_skops_schema(ctx, src, location)
    return False
