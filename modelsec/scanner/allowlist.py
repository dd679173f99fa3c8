"""Callables reviewed as data-only by hand: a pickle that imports only allowed names is clean.

The rule is strict on purpose: a name is here only when calling it with any arguments the
pickle can build can do nothing but construct plain data (containers, numbers, arrays,
tensors, paths, regexes). Library classes whose reconstruction only restores state
(scikit-learn estimators, ``torch.nn`` modules, pandas internals, scipy sparse matrices, ...) are
derived per package by ``scripts/gen_callables.py`` into ``data/callables.json`` instead, and
only when no sink is reachable from their constructors; see :mod:`modelsec.scanner.callables`.
"""

from __future__ import annotations

__all__ = ["ALLOWED_NAMES", "is_allowed"]

_TORCH_DTYPES = [
    "float32",
    "float",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "complex32",
    "complex64",
    "cfloat",
    "complex128",
    "cdouble",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "short",
    "int32",
    "int",
    "int64",
    "long",
    "bool",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "bits8",
    "bits16",
]

_TORCH_STORAGES = [
    "FloatStorage",
    "DoubleStorage",
    "HalfStorage",
    "BFloat16Storage",
    "LongStorage",
    "IntStorage",
    "ShortStorage",
    "CharStorage",
    "ByteStorage",
    "BoolStorage",
    "ComplexFloatStorage",
    "ComplexDoubleStorage",
    "QInt8Storage",
    "QUInt8Storage",
    "QInt32Storage",
    "QUInt4x2Storage",
    "QUInt2x4Storage",
]

ALLOWED_NAMES: frozenset[str] = frozenset(
    [
        # Plain Python containers and scalars: constructing them runs no user code.
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.set",
        "builtins.frozenset",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.complex",
        "builtins.bool",
        "builtins.slice",
        "builtins.range",
        "builtins.object",
        "builtins.NoneType",
        "builtins.Ellipsis",
        "builtins.NotImplemented",
        "collections.OrderedDict",
        # Protocols 0-2 spell every ``bytes`` value as ``_codecs.encode(text, "latin1")``
        # (numpy arrays and legacy torch tensors included). It turns text into bytes; the
        # codec is looked up by name only inside the ``encodings`` package, so no argument a
        # pickle can build reaches other code. (``_codecs.lookup`` stays on the deny list.)
        "_codecs.encode",
        "collections.defaultdict",  # its factory is a separate import, judged on its own
        "collections.Counter",
        "collections.deque",
        "copyreg._reconstructor",  # object.__new__ + base __init__ of a class imported apart
        "copyreg.__newobj__",
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "enum.Enum",
        # Paths only store their parts (PurePath.__reduce__); no file is touched at load.
        # The rest of pathlib (Path.write_text, pathlib.os, ...) stays denied.
        "pathlib.Path",
        "pathlib.PurePath",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        "argparse.Namespace",  # a plain attribute bag (setattr of its keyword arguments)
        "re._compile",  # compiles a regular expression (how re.Pattern pickles): data only
        "types.SimpleNamespace",  # a plain attribute bag
        "builtins.hash",  # hashes a value the pickle built (gensim vocabularies)
        # numpy: legacy spellings of the random-state and matrix helpers older numpy wrote.
        "numpy.random.__RandomState_ctor",
        "numpy.random.mtrand.__RandomState_ctor",
        "numpy.matrixlib.defmatrix.matrix",
        "numpy.core.defmatrix.matrix",
        "numpy.ma.core.MaskedArray",
        "numpy.ma.core.MaskedConstant",
        # joblib array wrappers (the array bytes follow in the stream).
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle_compat.NDArrayWrapper",
        # pandas and scipy spellings of releases before the pinned ones.
        "pandas.core.internals.BlockManager",
        "pandas.core.internals.SingleBlockManager",
        "pandas.core.index._new_Index",
        "pandas.indexes.base._new_Index",
        "pandas._libs.tslib.Timestamp",
        "pandas.tslib.Timestamp",
        "pandas.core.indexes.frozen.FrozenNDArray",  # pandas < 1.0 MultiIndex levels
        # numpy arrays, dtypes and scalars (numpy >= 2 moved core to _core).
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.ma.core._mareconstruct",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__generator_ctor",
        # joblib stores arrays through this wrapper (data follows in the stream).
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        # TorchScript archives (constants.pkl, *.debug_pkl, data.pkl): torch/jit/_pickle.py
        # defines each as an identity function (build_tensor_from_id returns the int id), and
        # the C++ unpickler resolves them natively.
        "torch.jit._pickle.build_intlist",
        "torch.jit._pickle.build_tensorlist",
        "torch.jit._pickle.build_doublelist",
        "torch.jit._pickle.build_boollist",
        "torch.jit._pickle.build_tensor_from_id",
        "torch.jit._pickle.restore_type_tag",
        # A pickled logger is ``getLogger(name)`` (Logger.__reduce__): it returns or creates a
        # Logger with no handler. The rest of logging (FileHandler, config.listen) stays denied.
        "logging.getLogger",
        # dill writes builtin types by name: ``_load_type(name)`` is ``_reverse_typemap[name]``.
        "dill._dill._load_type",
        # Calling typing.Any raises TypeError; OmegaConf stores it as a node's type.
        "typing.Any",
        # OmegaConf containers (Lightning hyper-parameters): __setstate__ only restores the
        # metadata and content; interpolations resolve on access, never at load. The nodes
        # validate and store a value.
        "omegaconf.dictconfig.DictConfig",
        "omegaconf.listconfig.ListConfig",
        "omegaconf.base.ContainerMetadata",
        "omegaconf.base.Metadata",
        "omegaconf.nodes.AnyNode",
        "omegaconf.nodes.StringNode",
        "omegaconf.nodes.IntegerNode",
        "omegaconf.nodes.FloatNode",
        "omegaconf.nodes.BooleanNode",
        "omegaconf.nodes.EnumNode",
        "omegaconf.nodes.BytesNode",
        "omegaconf.nodes.PathNode",
        # Enums of transformers' and accelerate's training arguments: calling an Enum class
        # looks a member up by value (or builds a new Enum type): data only.
        "transformers.trainer_utils.SchedulerType",
        "transformers.trainer_utils.IntervalStrategy",
        "transformers.trainer_utils.SaveStrategy",
        "transformers.trainer_utils.HubStrategy",
        "transformers.training_args.OptimizerNames",
        "accelerate.utils.dataclasses.DistributedType",
        # numpy < 1.0 spelling of ndarray reconstruction (ndarray.__new__(subtype, shape, dtype)).
        "numpy.core._internal._reconstruct",
        # PyTorch state dicts: tensors are rebuilt from storages, no code involved.
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_nested_tensor",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._utils._rebuild_wrapper_subclass",
        "torch._tensor._rebuild_from_type_v2",
        "torch.nn.parameter.Parameter",
        "torch.Tensor",
        "torch.Size",
        "torch.device",
        "torch.storage.UntypedStorage",
        "torch.storage.TypedStorage",
        "torch.serialization._get_layout",
        "torch.strided",
        "torch.sparse_coo",
        "torch.per_tensor_affine",
        "torch.per_channel_affine",
        "torch.contiguous_format",
        "torch.channels_last",
        "torch.preserve_format",
        *(f"torch.{d}" for d in _TORCH_DTYPES),
        *(f"torch.{s}" for s in _TORCH_STORAGES),
        *(f"torch.cuda.{s}" for s in _TORCH_STORAGES),
    ]
)


def is_allowed(dotted: str) -> bool:
    """Whether ``dotted`` (canonical ``module.name``) is on the data-only list.

    Example:
        >>> is_allowed("collections.OrderedDict"), is_allowed("os.system")
        (True, False)
    """
    if dotted in ALLOWED_NAMES:
        return True
    # TorchScript archives name their own compiled classes ``__torch__.<qualified name>``; the
    # TorchScript unpickler resolves them to classes compiled from the archive's code/ (judged
    # there), never through Python's import system. ``__torch__.torch.classes.<ns>`` builds
    # native custom-class objects: only torch's own namespaces pass.
    if (
        dotted.startswith("__torch__.")
        and dotted.isascii()
        and dotted.replace(".", "_").isidentifier()
    ):
        if dotted.startswith("__torch__.torch.classes."):
            return dotted.split(".")[3] in _TORCH_CLASS_NAMESPACES
        return True
    return False


#: Namespaces of the custom classes torch itself registers (``torch.classes.<ns>``).
_TORCH_CLASS_NAMESPACES = frozenset({"quantized", "_nnapi", "_TorchScriptTesting", "cuda"})
