"""Typed wire shapes of the Model Security API (attrs classes, open enums).

Responses are built eagerly into these frozen classes (no lazy views): every field is checked
and converted once, when the response arrives, which costs about 4 µs per ``Scan``. For bulk
reads where that matters (thousands of list pages), ``client.request("GET", "/v1/scans", ...)``
returns the same data as plain ``dict``/``list`` JSON with the same token, retries and
timeouts; ``structure(data, Scan)`` types a single item later if needed.

Example:
    >>> from modelsec.types import Label, EvalOutcome
    >>> Label(key="env", value="prod").to_dict()
    {'key': 'env', 'value': 'prod'}
"""

from modelsec.types._base import OpenEnum, WireModel, format_datetime, parse_datetime, structure
from modelsec.types.data import *  # noqa: F403
from modelsec.types.data import __all__ as _data_all
from modelsec.types.enums import *  # noqa: F403
from modelsec.types.enums import __all__ as _enums_all
from modelsec.types.mgmt import *  # noqa: F403
from modelsec.types.mgmt import __all__ as _mgmt_all

__all__ = [
    "OpenEnum",
    "WireModel",
    "format_datetime",
    "parse_datetime",
    "structure",
    *_data_all,
    *_enums_all,
    *_mgmt_all,
]
