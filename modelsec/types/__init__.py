"""Typed wire shapes of the Model Security API (attrs classes, open enums).

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
