"""Threat codes: which built-in rule judges an issue, and the short description of each code.

How threats map to rules (by family of the threat code ``PAIT-<FMT>-<NNN>``):

* 1xx load-time codes (and ``PAIT-ARV-100``) -> *Load Time Code Execution Check*; the
  ``-101`` "suspicious" codes of pickle-like formats (PKL, PYTCH, JOBLIB, EXDIR, CFG) ->
  *Suspicious Model Components Check*;
* 2xx -> *Model Architecture Backdoor Check*;
* 3xx -> *Runtime Code Execution Check*, except the unknown-operator codes (``PAIT-TF-301``,
  ``PAIT-LITERT-301``) -> *Known Framework Operators Check*;
* issues without a threat code -> *Suspicious Model Components Check*;
* ``UNAPPROVED_FORMATS`` and the files' ``formats`` -> *Stored In Approved File Format*.

A table of the scanner's vocabulary, kept apart from the evaluation
(:mod:`modelsec.policy.evaluate`) that applies it to one scan.

Example:
    >>> rule_for_threat("PAIT-KERAS-300"), THREAT_DESCRIPTIONS["PAIT-KERAS-300"]
    ('Runtime Code Execution Check', 'Keras Lambda layer that runs code at inference')
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["THREAT_DESCRIPTIONS", "rule_for_threat"]

LOAD_TIME = "Load Time Code Execution Check"
RUNTIME = "Runtime Code Execution Check"
BACKDOOR = "Model Architecture Backdoor Check"
OPERATORS = "Known Framework Operators Check"
SUSPICIOUS = "Suspicious Model Components Check"
FORMATS = "Stored In Approved File Format"

#: Short descriptions of the threat codes (``threat_description`` on violations).
THREAT_DESCRIPTIONS: Mapping[str, str] = {
    "PAIT-PKL-100": "Pickle file with unsafe code that runs when it is loaded",
    "PAIT-PKL-101": "Pickle file with suspicious code reachable when it is loaded",
    "PAIT-PYTCH-100": "PyTorch model with unsafe code that runs when it is loaded",
    "PAIT-PYTCH-101": "PyTorch model with suspicious code reachable when it is loaded",
    "PAIT-JOBLIB-100": "Joblib file with unsafe code that runs when it is loaded",
    "PAIT-JOBLIB-101": "Joblib file with suspicious code reachable when it is loaded",
    "PAIT-KERAS-100": "Keras model that executes code when it is loaded",
    "PAIT-KERAS-101": "Keras model with unsafe layers that execute code at load",
    "PAIT-KERAS-102": "Legacy Keras model carrying pickled code",
    "PAIT-GGUF-100": "GGUF file with a load-time issue",
    "PAIT-GGUF-101": "GGUF chat template (Jinja) that can execute code",
    "PAIT-EXDIR-100": "EXDIR model with unsafe code",
    "PAIT-EXDIR-101": "EXDIR model with suspicious code",
    "PAIT-ARV-100": "Archive member that would be written outside the extraction directory",
    "PAIT-PY-100": "Python code shipped with the model that runs unsafe operations when it loads",
    "PAIT-PY-300": "Python code a loader executes that runs unsafe operations when called",
    "PAIT-CFG-100": "Configuration that makes the loader construct or call unsafe code",
    "PAIT-CFG-101": "Configuration naming types not known to be safe to instantiate",
    "PAIT-ONNX-200": "ONNX model with an architectural backdoor",
    "PAIT-TF-200": "TensorFlow SavedModel with an architectural backdoor",
    "PAIT-KERAS-300": "Keras Lambda layer that runs code at inference",
    "PAIT-KERAS-301": "Keras custom layer bypassing safe_mode (CVE-2025-1550)",
    "PAIT-TF-300": "TensorFlow SavedModel that executes code at inference",
    "PAIT-TF-301": "TensorFlow SavedModel using unknown operators",
    "PAIT-TF-302": "TensorFlow SavedModel with file system operations",
    "PAIT-LITERT-300": "LiteRT model that executes code at inference",
    "PAIT-LITERT-301": "LiteRT model using unknown operators",
    "PAIT-LITERT-302": "LiteRT model with file system operations",
    "PAIT-TCHST-300": "TorchScript model that executes code at inference",
    "PAIT-TCHST-301": "TorchScript model with suspicious operations",
    "PAIT-TMT-300": "TMT model that executes code at inference",
    "PAIT-TMT-301": "TMT model with suspicious operations",
    "PAIT-LMAFL-300": "llamafile executable that runs code",
    "UNAPPROVED_FORMATS": "Model file stored in a format that is not approved",
}

_THREAT_RE = re.compile(r"^PAIT-([A-Z0-9]+)-(\d)(\d\d)$")
_SUSPICIOUS_FORMATS = frozenset({"PKL", "PYTCH", "JOBLIB", "EXDIR", "CFG"})
_UNKNOWN_OPERATOR_CODES = frozenset({"PAIT-TF-301", "PAIT-LITERT-301"})


def rule_for_threat(threat: str | None) -> str:
    """The name of the built-in rule that judges issues with this threat code.

    Example:
        >>> rule_for_threat("PAIT-PKL-100"), rule_for_threat("PAIT-ONNX-200")
        ('Load Time Code Execution Check', 'Model Architecture Backdoor Check')
        >>> rule_for_threat("PAIT-TF-301"), rule_for_threat(None)
        ('Known Framework Operators Check', 'Suspicious Model Components Check')
    """
    if not threat:
        return SUSPICIOUS
    if threat == "UNAPPROVED_FORMATS":
        return FORMATS
    if threat in _UNKNOWN_OPERATOR_CODES:
        return OPERATORS
    m = _THREAT_RE.match(threat)
    if not m:
        return SUSPICIOUS
    fmt, family, rest = m.group(1), m.group(2), m.group(3)
    if family == "1":
        if rest == "01" and fmt in _SUSPICIOUS_FORMATS:
            return SUSPICIOUS
        return LOAD_TIME
    if family == "2":
        return BACKDOOR
    if family == "3":
        return RUNTIME
    return SUSPICIOUS
