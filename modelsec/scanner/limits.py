"""Limits that keep a scan bounded in time and memory, whatever the input."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from modelsec.scanner.interpreters import parse_target_python

__all__ = ["DEFAULT_LIMITS", "ScanLimits", "with_overrides"]


@attrs.frozen(kw_only=True)
class ScanLimits:
    """Bounds applied while scanning; the defaults suit models of any size on a laptop.

    Every limit is a hard stop: when one is reached the scanner reports it (an issue or an
    ``ERROR`` status) instead of reading further, so hostile inputs cannot exhaust memory or time.

    Example:
        >>> limits = ScanLimits(max_archive_depth=2, target_python="3.12,3.11")
        >>> limits.max_archive_depth, limits.target_python
        (2, ('3.11', '3.12'))
    """

    #: Files larger than this are hashed but not parsed (status ``SKIPPED`` with an issue the
    #: default policy blocks: unparsed content never passes).
    max_file_bytes: int = 1 << 40
    #: Nesting of archives/compression layers followed (zip in tar.gz is depth 3).
    max_archive_depth: int = 4
    #: Members read from one archive before it is called a bomb.
    max_archive_members: int = 10_000
    #: Total bytes decompressed for one top-level file (all layers together).
    max_total_uncompressed_bytes: int = 4 << 30
    #: Decompressed/compressed ratio over which a member is a bomb (once past ``ratio_floor``).
    max_compression_ratio: float = 250.0
    #: Members smaller than this are never judged by ratio (tiny highly compressible files).
    ratio_floor_bytes: int = 16 << 20
    #: A nested compressed zip must be buffered to be read (zipfile needs to seek); cap that
    #: buffer (stored members are read in place, never buffered).
    max_in_memory_bytes: int = 64 << 20
    #: Content read from a stream (a tar member in a ``.gz``) kept to scan it again as another
    #: format (polyglots); a second pass needing more than this fails closed.
    max_replay_bytes: int = 16 << 20
    #: GNU long names/links and names in pax records longer than this are an issue (no loader
    #: needs them) and are skipped, never buffered.
    max_tar_name_bytes: int = 64 << 10
    #: pax extended headers larger than this are an issue and are skipped, never buffered.
    max_pax_header_bytes: int = 1 << 20
    #: Largest JSON document (Keras config, tokenizer config, safetensors header) parsed.
    max_json_bytes: int = 64 << 20
    #: safetensors refuses headers above 100 MB; we do the same.
    max_safetensors_header_bytes: int = 100_000_000
    #: Text scanned for TorchScript code / Jinja templates per member.
    max_text_bytes: int = 16 << 20
    #: Protobuf messages (ONNX nodes, TF NodeDefs) read into memory; larger ones are skipped.
    max_proto_message_bytes: int = 64 << 20
    #: Issues kept per file; more are summarised in one last issue.
    max_issues_per_file: int = 200
    #: Not a bound but the one assumption the verdict rests on: the Python interpreters that
    #: will load the model (``"3.12"``, ``"3.11,3.12"``, ``"pypy"`` or ``"any"``; ``None``:
    #: the one running the scan). Functions pickled by value are bytecode, which means
    #: something else in every CPython version, so they are judged for these only
    #: (:mod:`modelsec.scanner.interpreters`).
    target_python: tuple[str, ...] | None = attrs.field(default=None, converter=parse_target_python)


DEFAULT_LIMITS = ScanLimits()


def with_overrides(
    limits: ScanLimits | None,
    max_file_bytes: int | None = None,
    target_python: str | Sequence[str] | None = None,
) -> ScanLimits:
    """``limits`` (default :data:`DEFAULT_LIMITS`) with the scan functions' shortcut arguments
    applied; ``None`` leaves a field as ``limits`` has it.

    Example:
        >>> with_overrides(None, target_python="any").target_python
        ('any',)
    """
    lim = limits or DEFAULT_LIMITS
    if max_file_bytes is not None:
        lim = attrs.evolve(lim, max_file_bytes=max_file_bytes)
    if target_python is not None:
        lim = attrs.evolve(lim, target_python=target_python)
    return lim
