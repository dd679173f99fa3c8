"""Open enums of the Model Security API.

Each is a ``str`` enum whose members equal their wire strings; fields that hold them are typed
``Enum | str`` so that values the service adds later survive as plain strings.
"""

from __future__ import annotations

from modelsec.types._base import OpenEnum

__all__ = [
    "ErrorCode",
    "EvalOutcome",
    "FileScanResult",
    "FileType",
    "ModelScanStatus",
    "RuleEditableFieldType",
    "RuleEvaluationResult",
    "RuleFieldValueKey",
    "RuleState",
    "RuleType",
    "ScanOrigin",
    "SecurityGroupState",
    "SortByDateField",
    "SortByFileField",
    "SortDirection",
    "SourceType",
    "ThreatCategory",
]


class ErrorCode(OpenEnum):
    """Why a scan ended in ``ERROR`` (``Scan.error_code``)."""

    UNKNOWN_ERROR = "UNKNOWN_ERROR"
    SCAN_ERROR = "SCAN_ERROR"
    INVALID_RESPONSE = "INVALID_RESPONSE"
    ACCESS_DENIED = "ACCESS_DENIED"
    MISSING_CREDENTIALS = "MISSING_CREDENTIALS"
    NO_SUCH_KEY = "NO_SUCH_KEY"
    NO_SUCH_BUCKET = "NO_SUCH_BUCKET"
    INVALID_BUCKET_NAME = "INVALID_BUCKET_NAME"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INVALID_OBJECT_STATE = "INVALID_OBJECT_STATE"
    UNKNOWN_REMOTE_SERVICE_ERROR = "UNKNOWN_REMOTE_SERVICE_ERROR"
    UNSUPPORTED_REMOTE_STORAGE = "UNSUPPORTED_REMOTE_STORAGE"
    MISSING_ARTIFACTS = "MISSING_ARTIFACTS"
    WORKER_ERROR = "WORKER_ERROR"
    POLICY_EVAL_ERROR = "POLICY_EVAL_ERROR"
    RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
    SCAN_DATA_PENDING = "SCAN_DATA_PENDING"


class EvalOutcome(OpenEnum):
    """The verdict of a scan. ``PENDING`` until it settles.

    Example:
        >>> EvalOutcome("BLOCKED").is_settled
        True
    """

    PENDING = "PENDING"
    ALLOWED = "ALLOWED"
    BLOCKED = "BLOCKED"
    ERROR = "ERROR"

    @property
    def is_settled(self) -> bool:
        """True for ``ALLOWED``, ``BLOCKED`` and ``ERROR``."""
        return self is not EvalOutcome.PENDING


class FileScanResult(OpenEnum):
    """Result of scanning one file (``File.result``)."""

    SKIPPED = "SKIPPED"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    FAILED = "FAILED"


class FileType(OpenEnum):
    """A file entry is a ``FILE`` or a ``DIRECTORY``."""

    DIRECTORY = "DIRECTORY"
    FILE = "FILE"


class ModelScanStatus(OpenEnum):
    """What the scanner did with a file (``FileScanData.modelscan_status``)."""

    SCANNED = "SCANNED"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"


class RuleEvaluationResult(OpenEnum):
    """Result of one rule on one scan."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    ERROR = "ERROR"


class RuleState(OpenEnum):
    """Posture of a rule instance: fail the scan, record only, or skip."""

    DISABLED = "DISABLED"
    ALLOWING = "ALLOWING"
    BLOCKING = "BLOCKING"


class RuleType(OpenEnum):
    """Whether a rule inspects artifacts or metadata."""

    METADATA = "METADATA"
    ARTIFACT = "ARTIFACT"


class RuleEditableFieldType(OpenEnum):
    """How a rule's editable field is rendered."""

    SELECT = "SELECT"
    LIST = "LIST"


class RuleFieldValueKey(OpenEnum):
    """Keys allowed in a rule instance's ``field_values``."""

    APPROVED_FORMATS = "approved_formats"
    APPROVED_LOCATIONS = "approved_locations"
    APPROVED_LICENSES = "approved_licenses"
    DENY_ORGS = "deny_orgs"
    DENIED_ORG_MODELS = "denied_org_models"
    APPROVED_ORG_MODELS = "approved_org_models"


class ScanOrigin(OpenEnum):
    """Who launched a scan."""

    MODEL_SECURITY_SDK = "MODEL_SECURITY_SDK"
    MODEL_SECURITY_API = "MODEL_SECURITY_API"
    MODEL_SECURITY_FRONTEND = "MODEL_SECURITY_FRONTEND"
    HUGGING_FACE = "HUGGING_FACE"


class SecurityGroupState(OpenEnum):
    """A security group is ``PENDING`` after creation and ``ACTIVE`` once usable."""

    PENDING = "PENDING"
    ACTIVE = "ACTIVE"


class SortByDateField(OpenEnum):
    """Date fields lists can be sorted by."""

    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"


class SortByFileField(OpenEnum):
    """Fields a scan's file list can be sorted by."""

    PATH = "path"
    TYPE = "type"


class SortDirection(OpenEnum):
    """Sort direction."""

    ASC = "asc"
    DESC = "desc"


class SourceType(OpenEnum):
    """Where a model comes from; a security group is bound to one for life."""

    LOCAL = "LOCAL"
    HUGGING_FACE = "HUGGING_FACE"
    S3 = "S3"
    GCS = "GCS"
    AZURE = "AZURE"
    ARTIFACTORY = "ARTIFACTORY"
    GITLAB = "GITLAB"
    ALL = "ALL"


class ThreatCategory(OpenEnum):
    """Threat codes on scanner issues and violations.

    Families: 1xx load time (deserialization), 2xx architectural backdoor, 3xx run time;
    ``-100`` reads as unsafe and ``-101`` as suspicious.
    """

    PAIT_ARV_100 = "PAIT-ARV-100"
    PAIT_GGUF_100 = "PAIT-GGUF-100"
    PAIT_GGUF_101 = "PAIT-GGUF-101"
    PAIT_KERAS_100 = "PAIT-KERAS-100"
    PAIT_KERAS_101 = "PAIT-KERAS-101"
    PAIT_KERAS_102 = "PAIT-KERAS-102"
    PAIT_JOBLIB_100 = "PAIT-JOBLIB-100"
    PAIT_JOBLIB_101 = "PAIT-JOBLIB-101"
    PAIT_PKL_100 = "PAIT-PKL-100"
    PAIT_PKL_101 = "PAIT-PKL-101"
    PAIT_PYTCH_100 = "PAIT-PYTCH-100"
    PAIT_PYTCH_101 = "PAIT-PYTCH-101"
    PAIT_EXDIR_100 = "PAIT-EXDIR-100"
    PAIT_EXDIR_101 = "PAIT-EXDIR-101"
    PAIT_ONNX_200 = "PAIT-ONNX-200"
    PAIT_TF_200 = "PAIT-TF-200"
    PAIT_LMAFL_300 = "PAIT-LMAFL-300"
    PAIT_LITERT_300 = "PAIT-LITERT-300"
    PAIT_LITERT_301 = "PAIT-LITERT-301"
    PAIT_LITERT_302 = "PAIT-LITERT-302"
    PAIT_KERAS_300 = "PAIT-KERAS-300"
    PAIT_KERAS_301 = "PAIT-KERAS-301"
    PAIT_TCHST_300 = "PAIT-TCHST-300"
    PAIT_TCHST_301 = "PAIT-TCHST-301"
    PAIT_TF_300 = "PAIT-TF-300"
    PAIT_TF_301 = "PAIT-TF-301"
    PAIT_TF_302 = "PAIT-TF-302"
    PAIT_TMT_300 = "PAIT-TMT-300"
    PAIT_TMT_301 = "PAIT-TMT-301"
    UNAPPROVED_FORMATS = "UNAPPROVED_FORMATS"
