"""Models in object storage and registries, read as streams for the scanner.

A URI resolves to a :class:`~modelsec.sources.base.Source` that lists the model's files and
opens each as a stream; :func:`scan_uri` scans them straight out of storage (bounded memory, no
copy on disk unless ``download_dir`` asks for one). S3, GCS and Azure Blob need the ``storage``
extra (``pip install 'modelsec[storage]'``, obstore); Artifactory and the GitLab model registry
are read over aiohttp.

Example:
    >>> from modelsec.sources import is_storage_uri, parse_location
    >>> is_storage_uri("gs://bucket/models/bert"), parse_location("gs://bucket/m").source_type
    (True, 'GCS')
"""

from modelsec.sources.base import (
    MAX_FILES,
    RemoteFile,
    Source,
    SourceError,
    StorageObject,
    StorageProgress,
    select,
)
from modelsec.sources.scan import open_source, scan_uri
from modelsec.sources.uri import Location, is_storage_uri, parse_location, redact_uri

__all__ = [
    "MAX_FILES",
    "Location",
    "RemoteFile",
    "Source",
    "SourceError",
    "StorageObject",
    "StorageProgress",
    "is_storage_uri",
    "open_source",
    "parse_location",
    "redact_uri",
    "scan_uri",
    "select",
]
