"""Offline model scanner: file analysis -> :class:`~modelsec.types.ScanDetails`.

Pure Python, no extra dependency; it never unpickles, imports, loads or runs anything from a
model. It reads only what each parser needs, with hard limits on memory and time.

Example:
    >>> import tempfile, pathlib
    >>> from modelsec.scanner import scan_path
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "evil.pkl").write_bytes(b"cos\\nsystem\\n(S'id'\\ntR.")
    >>> scan_path(d).files[0].issues_detected[0].threat
    'PAIT-PKL-100'

Public names: :func:`scan_path`, :func:`scan_path_async`, :func:`scan_file`,
:class:`ScanLimits`, :data:`SUPPORTED_FORMATS`, :data:`SCANNER_VERSION`,
:class:`TooManyFilesError`, :class:`ScanCancelled` and :func:`cancel_on` (stop a running scan);
:func:`scan_streams` and :class:`NamedStream` scan files given as streams (object storage,
registries) with no copy on disk.
"""

from modelsec.scanner.api import (
    SCANNER_VERSION,
    SUPPORTED_FORMATS,
    scan_file,
    scan_path,
    scan_path_async,
)
from modelsec.scanner.cancel import ScanCancelled, cancel_on
from modelsec.scanner.limits import DEFAULT_LIMITS, ScanLimits
from modelsec.scanner.streams import NamedStream, scan_streams
from modelsec.scanner.walk import TooManyFilesError

__all__ = [
    "DEFAULT_LIMITS",
    "SCANNER_VERSION",
    "SUPPORTED_FORMATS",
    "NamedStream",
    "ScanCancelled",
    "ScanLimits",
    "TooManyFilesError",
    "cancel_on",
    "scan_file",
    "scan_path",
    "scan_path_async",
    "scan_streams",
]
