"""The built-in security rule catalog (read-only rules of the Model Security service).

Names, types, compatible sources and default states follow CONTRACT.md. The UUIDs follow the
observed pattern ``550e8400-e29b-41d4-a716-4466554400NN``; the observed ones are kept (``06``
License Exists, ``07`` License Is Valid For Use, ``08`` Load Time Code Execution Check, ``0a``
Model Architecture Backdoor Check, ``0b`` Known Framework Operators Check) and the others fill
the free numbers. Resolve rules by name when talking to the real service.

Example:
    >>> from modelsec.policy.catalog import rule_by_name
    >>> rule_by_name("License Exists").uuid
    '550e8400-e29b-41d4-a716-446655440006'
    >>> rule_by_name("Stored In Approved File Format").default_values["approved_formats"][:2]
    ('safetensors', 'safetensors_index')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALL_SOURCE_TYPES",
    "BUILTIN_RULES",
    "DEFAULT_APPROVED_FORMATS",
    "DEFAULT_APPROVED_LICENSES",
    "FORMAT_IDENTIFIERS",
    "KNOWN_VERIFIED_ORGS",
    "OBJECT_STORAGE_SOURCES",
    "SecurityRule",
    "rule_by_name",
    "rule_by_uuid",
    "rules_for_source",
]

#: Concrete source types (``ALL`` is a wildcard used by rules and groups).
ALL_SOURCE_TYPES: tuple[str, ...] = (
    "LOCAL",
    "HUGGING_FACE",
    "S3",
    "GCS",
    "AZURE",
    "ARTIFACTORY",
    "GITLAB",
)
OBJECT_STORAGE_SOURCES: tuple[str, ...] = ("S3", "GCS", "AZURE", "ARTIFACTORY", "GITLAB")

#: Every format identifier of the contract.
_FORMATS_TEXT = (
    "cntk flax gguf keras3 keras_legacy keras_pickle keras_legacy_h5 keras3_h5 keras_weights "
    "keras_model_json keras_metadata lightgbm llamafile mxnet numpy numpy_zip numpy_pickle onnx "
    "openvino_bin openvino_xml pickle pytorch_v0_1_1 pytorch_v0_1_10 pytorch_v1_13 "
    "pytorch_torch_script pytorch_archive rknn safetensors safetensors_index sklearn tensorrt "
    "tensorflow tf_hub tf_meta_graph litert litert_json tf_js torch json joblib tar zip nemo "
    "zlib gzip bzip2 lzma xz lz4 7_zip hydra yaml"
)
FORMAT_IDENTIFIERS: tuple[str, ...] = tuple(_FORMATS_TEXT.split())

#: Default ``approved_formats``: formats whose loading never runs code by construction.
#: Pure tensor/graph containers (safetensors, GGUF, ONNX, NumPy without pickle, Flax msgpack,
#: TensorFlow/Keras 3 graphs and weights, LiteRT, OpenVINO IR, TF.js, LightGBM text models),
#: plain configuration (json, yaml, hydra) and the archive/compression wrappers (their members are
#: reported with their own formats, so a pickle inside a zip still fails). Left out on purpose:
#: everything built on pickle (pickle, joblib, sklearn, torch, pytorch_*, numpy_pickle,
#: keras_pickle, nemo), legacy Keras (arbitrary Lambda bytecode), TorchScript (code), llamafile
#: (an executable), TensorRT (engine plugins are native code), and the rarely vetted
#: cntk/mxnet/rknn/keras_legacy_h5.
DEFAULT_APPROVED_FORMATS: tuple[str, ...] = (
    "safetensors",
    "safetensors_index",
    "gguf",
    "onnx",
    "numpy",
    "numpy_zip",
    "flax",
    "keras3",
    "keras3_h5",
    "keras_weights",
    "keras_model_json",
    "keras_metadata",
    "tensorflow",
    "tf_hub",
    "tf_meta_graph",
    "tf_js",
    "litert",
    "litert_json",
    "openvino_xml",
    "openvino_bin",
    "lightgbm",
    "json",
    "yaml",
    "hydra",
    "tar",
    "zip",
    "zlib",
    "gzip",
    "bzip2",
    "lzma",
    "xz",
    "lz4",
    "7_zip",
)

#: Default ``approved_licenses`` (lower-case Hugging Face license identifiers): permissive and
#: open licenses that allow commercial use.
DEFAULT_APPROVED_LICENSES: tuple[str, ...] = (
    "apache-2.0",
    "mit",
    "bsd",
    "bsd-2-clause",
    "bsd-3-clause",
    "bsl-1.0",
    "cc0-1.0",
    "cc-by-4.0",
    "cc-by-sa-4.0",
    "isc",
    "mpl-2.0",
    "openrail",
    "openrail++",
    "bigscience-openrail-m",
    "creativeml-openrail-m",
    "unlicense",
    "zlib",
    "artistic-2.0",
    "ecl-2.0",
    "postgresql",
    "pddl",
    "odc-by",
)

#: Organizations treated as verified by Hugging Face when the source metadata does not say.
KNOWN_VERIFIED_ORGS: frozenset[str] = frozenset(
    {
        "google",
        "google-bert",
        "meta-llama",
        "facebook",
        "microsoft",
        "openai",
        "openai-community",
        "mistralai",
        "qwen",
        "nvidia",
        "huggingface",
        "huggingfacetb",
        "stabilityai",
        "sentence-transformers",
        "distilbert",
        "deepseek-ai",
        "ibm-granite",
        "amazon",
        "apple",
        "tiiuae",
        "bigscience",
        "allenai",
        "intel",
        "salesforce",
        "cohereforai",
    }
)


@dataclass(frozen=True)
class SecurityRule:
    """One built-in (read-only) security rule.

    ``families`` names the threat families the rule judges (used by the evaluator).

    Example:
        >>> from modelsec.policy.catalog import rule_by_name
        >>> r = rule_by_name("Model Is Blocked")
        >>> r.rule_type, r.compatible_sources, r.default_state
        ('METADATA', ('HUGGING_FACE',), 'BLOCKING')
        >>> r.applies_to("LOCAL")
        False
    """

    uuid: str
    name: str
    description: str
    rule_type: str
    compatible_sources: tuple[str, ...]
    default_state: str
    remediation_description: str
    remediation_steps: tuple[str, ...]
    remediation_url: str
    editable_fields: tuple[Mapping[str, Any], ...] = ()
    default_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    constant_values: Mapping[str, Any] = field(default_factory=dict)

    def applies_to(self, source_type: str) -> bool:
        """True when the rule is compatible with ``source_type`` (``ALL`` matches anything)."""
        if source_type == "ALL" or "ALL" in self.compatible_sources:
            return True
        return source_type in self.compatible_sources

    def default_field_values(self) -> dict[str, list[str]]:
        """A fresh copy of the default field values (lists of strings)."""
        return {k: list(v) for k, v in self.default_values.items()}

    def to_dict(self) -> dict[str, Any]:
        """The wire shape ``ModelSecurityRuleResponseSchema``.

        Example:
            >>> from modelsec.policy.catalog import rule_by_name
            >>> rule_by_name("License Exists").to_dict()["remediation"]["url"][:8]
            'https://'
        """
        return {
            "uuid": self.uuid,
            "name": self.name,
            "description": self.description,
            "rule_type": self.rule_type,
            "compatible_sources": list(self.compatible_sources),
            "default_state": self.default_state,
            "remediation": {
                "description": self.remediation_description,
                "steps": list(self.remediation_steps),
                "url": self.remediation_url,
            },
            "editable_fields": [dict(f) for f in self.editable_fields],
            "constant_values": dict(self.constant_values),
            "default_values": {k: list(v) for k, v in self.default_values.items()},
        }


_DOCS = "https://docs.paloaltonetworks.com/ai-runtime-security/ai-model-security"


def _uuid(nn: int) -> str:
    return f"550e8400-e29b-41d4-a716-4466554400{nn:02x}"


def _list_field(
    name: str, display: str, description: str, choices: Sequence[str] | None = None
) -> Mapping[str, Any]:
    return {
        "attribute_name": name,
        "type": "list[str]",
        "display_name": display,
        "display_type": "SELECT" if choices else "LIST",
        "description": description,
        "dropdown_values": [{"value": c, "label": c} for c in choices] if choices else None,
    }


_ALL = ("ALL",)
_HF = ("HUGGING_FACE",)

BUILTIN_RULES: tuple[SecurityRule, ...] = (
    SecurityRule(
        uuid=_uuid(0x08),
        name="Load Time Code Execution Check",
        description=(
            "Detects code that runs when the model is deserialized (pickle, PyTorch, joblib, "
            "Keras, GGUF templates, archive slips)."
        ),
        rule_type="ARTIFACT",
        compatible_sources=_ALL,
        default_state="BLOCKING",
        remediation_description="Do not load the model; obtain it in a safe format.",
        remediation_steps=(
            "Do not load the flagged file in any environment.",
            "Ask the publisher for the weights in a safe format such as safetensors.",
            "If you produced the file, re-export it without custom code objects.",
        ),
        remediation_url=f"{_DOCS}/load-time-code-execution",
    ),
    SecurityRule(
        uuid=_uuid(0x09),
        name="Runtime Code Execution Check",
        description=(
            "Detects code that runs during inference (Keras Lambda layers, TensorFlow "
            "SavedModel ops, TorchScript, LiteRT, llamafile)."
        ),
        rule_type="ARTIFACT",
        compatible_sources=_ALL,
        default_state="BLOCKING",
        remediation_description="Do not serve the model until the runtime code is removed.",
        remediation_steps=(
            "Inspect the flagged layers or operators.",
            "Rebuild the model without custom runtime code, or obtain a vetted version.",
        ),
        remediation_url=f"{_DOCS}/runtime-code-execution",
    ),
    SecurityRule(
        uuid=_uuid(0x0A),
        name="Model Architecture Backdoor Check",
        description="Detects architectural backdoors hidden in the model graph (ONNX, TensorFlow).",
        rule_type="ARTIFACT",
        compatible_sources=_ALL,
        default_state="BLOCKING",
        remediation_description="Treat the model as compromised.",
        remediation_steps=(
            "Do not deploy the model.",
            "Retrain or obtain the model from a trusted publisher.",
        ),
        remediation_url=f"{_DOCS}/architectural-backdoor",
    ),
    SecurityRule(
        uuid=_uuid(0x0B),
        name="Known Framework Operators Check",
        description="Flags operators that are not part of the framework's known operator set.",
        rule_type="ARTIFACT",
        compatible_sources=_ALL,
        default_state="BLOCKING",
        remediation_description="Review the unknown operators before use.",
        remediation_steps=(
            "List the custom operators the model needs.",
            "Only load the model where those operators come from a trusted build.",
        ),
        remediation_url=f"{_DOCS}/known-framework-operators",
    ),
    SecurityRule(
        uuid=_uuid(0x0C),
        name="Suspicious Model Components Check",
        description=(
            "Flags suspicious components: imports or callables that are not known to be "
            "unsafe but have no business in a model file."
        ),
        rule_type="ARTIFACT",
        compatible_sources=_ALL,
        default_state="BLOCKING",
        remediation_description="Review the suspicious components.",
        remediation_steps=(
            "Inspect the flagged module and operator.",
            "Allow the model only after the component has been reviewed.",
        ),
        remediation_url=f"{_DOCS}/suspicious-model-components",
    ),
    SecurityRule(
        uuid=_uuid(0x04),
        name="Stored In Approved File Format",
        description="Every model file must be stored in one of the approved formats.",
        rule_type="ARTIFACT",
        compatible_sources=_ALL,
        default_state="BLOCKING",
        remediation_description="Convert the model to an approved format.",
        remediation_steps=(
            "Convert the weights to an approved format such as safetensors.",
            "Or add the format to the rule's approved formats if it is acceptable.",
        ),
        remediation_url=f"{_DOCS}/approved-file-format",
        editable_fields=(
            _list_field(
                "approved_formats",
                "Approved Formats",
                "Formats a model file may be stored in.",
                FORMAT_IDENTIFIERS,
            ),
        ),
        default_values={"approved_formats": DEFAULT_APPROVED_FORMATS},
    ),
    SecurityRule(
        uuid=_uuid(0x05),
        name="Stored In Approved Location",
        description="The model must be stored under one of the approved locations.",
        rule_type="ARTIFACT",
        compatible_sources=("LOCAL", *OBJECT_STORAGE_SOURCES),
        default_state="DISABLED",
        remediation_description="Move the model to an approved location.",
        remediation_steps=(
            "Copy the model to an approved bucket, registry or directory.",
            "Or add its location to the rule's approved locations.",
        ),
        remediation_url=f"{_DOCS}/approved-location",
        editable_fields=(
            _list_field(
                "approved_locations",
                "Approved Locations",
                "URI or path prefixes models may be stored under.",
            ),
        ),
        default_values={"approved_locations": ()},
    ),
    SecurityRule(
        uuid=_uuid(0x06),
        name="License Exists",
        description="The Hugging Face model must declare a license.",
        rule_type="METADATA",
        compatible_sources=_HF,
        default_state="BLOCKING",
        remediation_description="Use a model that declares its license.",
        remediation_steps=(
            "Check the model card for license terms.",
            "Ask the publisher to add a license to the model card metadata.",
        ),
        remediation_url=f"{_DOCS}/license-exists",
    ),
    SecurityRule(
        uuid=_uuid(0x07),
        name="License Is Valid For Use",
        description="The Hugging Face model's license must be one of the approved licenses.",
        rule_type="METADATA",
        compatible_sources=_HF,
        default_state="BLOCKING",
        remediation_description="Use a model under an approved license.",
        remediation_steps=(
            "Review the license with your legal team.",
            "Add it to the rule's approved licenses if it is acceptable.",
        ),
        remediation_url=f"{_DOCS}/license-valid-for-use",
        editable_fields=(
            _list_field(
                "approved_licenses",
                "Approved Licenses",
                "Licenses (Hugging Face identifiers) that allow use.",
                DEFAULT_APPROVED_LICENSES,
            ),
        ),
        default_values={"approved_licenses": DEFAULT_APPROVED_LICENSES},
    ),
    SecurityRule(
        uuid=_uuid(0x01),
        name="Model Is Blocked",
        description="The Hugging Face model must not be on the denied models list.",
        rule_type="METADATA",
        compatible_sources=_HF,
        default_state="BLOCKING",
        remediation_description="Use a model that is not denied.",
        remediation_steps=("Pick another model.", "Remove the model from the denied list."),
        remediation_url=f"{_DOCS}/model-is-blocked",
        editable_fields=(
            _list_field(
                "denied_org_models",
                "Denied Models",
                "Models ('org/model', or 'org/*') that must not be used.",
            ),
        ),
        default_values={"denied_org_models": ()},
    ),
    SecurityRule(
        uuid=_uuid(0x02),
        name="Organization Verified By Hugging Face",
        description=(
            "The Hugging Face organization publishing the model must be verified, unless the "
            "organization or model is explicitly approved."
        ),
        rule_type="METADATA",
        compatible_sources=_HF,
        default_state="BLOCKING",
        remediation_description="Use models from verified organizations.",
        remediation_steps=(
            "Prefer the upstream publisher's verified organization.",
            "Add the organization or model to the approved list after review.",
        ),
        remediation_url=f"{_DOCS}/organization-verified",
        editable_fields=(
            _list_field(
                "approved_org_models",
                "Approved Organizations/Models",
                "Organizations ('org') or models ('org/model') approved although unverified.",
            ),
        ),
        default_values={"approved_org_models": ()},
    ),
    SecurityRule(
        uuid=_uuid(0x03),
        name="Organization Is Blocked",
        description="The Hugging Face organization must not be on the denied organizations list.",
        rule_type="METADATA",
        compatible_sources=_HF,
        default_state="BLOCKING",
        remediation_description="Use a model from an organization that is not denied.",
        remediation_steps=("Pick a model from another organization.",),
        remediation_url=f"{_DOCS}/organization-is-blocked",
        editable_fields=(
            _list_field("deny_orgs", "Denied Organizations", "Organizations that are denied."),
        ),
        default_values={"deny_orgs": ()},
    ),
)

_BY_NAME = {r.name.lower(): r for r in BUILTIN_RULES}
_BY_UUID = {r.uuid: r for r in BUILTIN_RULES}


def rule_by_name(name: str) -> SecurityRule:
    """The built-in rule called ``name`` (case-insensitive); ``KeyError`` if unknown.

    Example:
        >>> rule_by_name("load time code execution check").uuid[-2:]
        '08'
    """
    return _BY_NAME[name.strip().lower()]


def rule_by_uuid(uuid: str) -> SecurityRule | None:
    """The built-in rule with this UUID, or ``None``.

    Example:
        >>> rule_by_uuid("550e8400-e29b-41d4-a716-44665544000b").name
        'Known Framework Operators Check'
    """
    return _BY_UUID.get(uuid.lower())


def rules_for_source(source_type: str) -> list[SecurityRule]:
    """The built-in rules that apply to ``source_type``, in catalog order.

    Example:
        >>> len(rules_for_source("HUGGING_FACE")), len(rules_for_source("LOCAL"))
        (11, 7)
    """
    return [r for r in BUILTIN_RULES if r.applies_to(source_type)]
