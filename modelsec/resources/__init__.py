"""Async sub-clients, one per API area. Reach them through ``AsyncModelSecurityClient``."""

from modelsec.resources.custom_rules import AsyncCustomRules
from modelsec.resources.models import AsyncModels
from modelsec.resources.scans import AsyncScans
from modelsec.resources.security_groups import AsyncSecurityGroups
from modelsec.resources.security_rules import AsyncSecurityRules

__all__ = [
    "AsyncCustomRules",
    "AsyncModels",
    "AsyncScans",
    "AsyncSecurityGroups",
    "AsyncSecurityRules",
]
