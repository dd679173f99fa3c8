"""joblib's array wrappers: the raw bytes ``NumpyUnpickler.load_build`` reads between opcodes.

``joblib.load`` uses a pure-Python Unpickler whose ``load_build`` checks, after every BUILD,
whether the object on the stack is a ``NumpyArrayWrapper`` (or the older ``NDArrayWrapper`` /
``ZNDArrayWrapper``, which read companion files instead). For a ``NumpyArrayWrapper`` it reads
the array straight from the file (``read_array``):

* ``dtype.hasobject``: a nested ``pickle`` stream, loaded by a fresh Unpickler (own memo and
  stack) on the same file, after which the outer pickle resumes;
* otherwise, when the wrapper has a ``numpy_array_alignment_bytes`` attribute that is not
  ``None`` (joblib >= 1.2), one byte ``p`` and ``p`` padding bytes; then
  ``prod(shape) * dtype.itemsize`` bytes of data (the same with ``mmap_mode``).

The walker must skip exactly that, so it sizes the payload as joblib does, from the wrapper's
attributes (set by ``__init__`` when the class is called, and by BUILD) and a ``numpy.dtype``
it can size exactly (numpy's own ``__setstate__`` rules for flexible types). Anything it cannot
size exactly stops the walk with an unresolved finding: fail closed, never a guess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelsec.scanner.pickle_types import UNKNOWN, GlobalRef
from modelsec.scanner.pickle_values import MISSING, Obj, TDict, TList

if TYPE_CHECKING:
    from modelsec.scanner.pickle_walker import Walker

__all__ = ["after_build", "dtype_info", "init_wrapper", "instance_class", "set_state"]

_U = UNKNOWN
_RECONSTRUCTORS = frozenset(
    [
        ("copyreg", "_reconstructor"),
        ("copy_reg", "_reconstructor"),
        ("copyreg", "__newobj__"),
        ("copy_reg", "__newobj__"),
        ("copyreg", "__newobj_ex__"),
    ]
)
_WRAPPERS = frozenset(["NumpyArrayWrapper", "NDArrayWrapper", "ZNDArrayWrapper"])
# __init__ parameters (name, default) of each wrapper class, as in joblib >= 1.2.
_INIT: dict[str, list[tuple[str, object]]] = {
    "NumpyArrayWrapper": [
        ("subclass", MISSING),
        ("shape", MISSING),
        ("order", MISSING),
        ("dtype", MISSING),
        ("allow_mmap", False),
        ("numpy_array_alignment_bytes", 16),
    ],
    "NDArrayWrapper": [("filename", MISSING), ("subclass", MISSING), ("allow_mmap", True)],
    "ZNDArrayWrapper": [("filename", MISSING), ("init_args", MISSING), ("state", MISSING)],
}
_DTYPE_MODULES = frozenset(["numpy", "numpy.core.multiarray", "numpy._core.multiarray"])
# Sizes of the fixed-size numpy types spelled by code or name (platform-independent only:
# 'l', 'g', 'p', 'int', 'long'... differ between the writer's and the loader's platform).
_FIXED: dict[str, int] = {}
for _size, _names in (
    (1, "? b1 bool bool_ b B i1 u1 int8 uint8 byte ubyte"),
    (2, "h H i2 u2 int16 uint16 e f2 float16 half short ushort"),
    (4, "i I i4 u4 int32 uint32 f f4 float32 single intc uintc"),
    (8, "q Q i8 u8 int64 uint64 d f8 float64 double F c8 complex64 longlong ulonglong"),
    (16, "D c16 complex128 cdouble"),
):
    for _n in _names.split():
        _FIXED[_n] = _size
for _n in ("M", "m", "M8", "m8", "datetime64", "timedelta64"):
    _FIXED[_n] = 8
_FLEX = {"S": 1, "a": 1, "U": 4, "V": 1}


def _wrapper_kind(cls: object) -> str | None:
    if cls.__class__ is not GlobalRef:
        return None
    last = cls.name.rpartition(".")[2]
    module: str = cls.module
    if last in _WRAPPERS and (
        module == "joblib" or module.startswith(("joblib.", "sklearn.externals.joblib"))
    ):
        return last
    return None


def instance_class(obj: Obj) -> GlobalRef | None:
    """The class of ``obj`` when the walker knows it (or the callable that produced it).

    Example:
        >>> cls = GlobalRef("sklearn.svm", "SVC")
        >>> instance_class(Obj(GlobalRef("copyreg", "_reconstructor"), (cls,), "REDUCE"))
        GlobalRef('sklearn.svm', 'SVC')
    """
    cls = obj.cls
    if cls.__class__ is not GlobalRef:
        return None
    if (cls.module, cls.name) in _RECONSTRUCTORS:
        args = obj.args
        if args.__class__ is tuple and args and args[0].__class__ is GlobalRef:
            return args[0]
        return None
    return cls


def init_wrapper(obj: Obj) -> None:
    """Attributes a joblib wrapper gets from its constructor (none when only ``__new__`` ran).

    Example:
        >>> w = Obj(GlobalRef("joblib.numpy_pickle", "NumpyArrayWrapper"), (), "NEWOBJ")
        >>> init_wrapper(w); w.attrs
        {}
    """
    cls = instance_class(obj)
    kind = _wrapper_kind(cls)
    if kind is None:
        return
    obj.attrs = {}
    args = obj.args
    if cls is not obj.cls or obj.kind in ("NEWOBJ", "NEWOBJ_EX") or args == ():
        return  # cls.__new__(cls) (NEWOBJ, copyreg, OBJ/INST without arguments): no __init__
    params = _INIT[kind]
    required = sum(1 for _, d in params if d is MISSING)
    if args.__class__ is not tuple or not required <= len(args) <= len(params):
        obj.exact = False  # TypeError in the loader, or arguments we cannot see
        return
    if kind == "NumpyArrayWrapper" and len(args) < len(params):
        # joblib < 1.2 has no alignment parameter, >= 1.2 defaults it to 16: they disagree.
        obj.exact = False
        return
    for k, (pname, default) in enumerate(params):
        obj.attrs[pname] = args[k] if k < len(args) else default


def set_state(obj: Obj, state: object) -> None:
    """``BUILD``: remember the state (numpy dtypes) and follow instance-dict updates.

    Example:
        >>> w = Obj(GlobalRef("joblib.numpy_pickle", "NumpyArrayWrapper"), (), "NEWOBJ")
        >>> init_wrapper(w); state = TDict(); state.put("order", "C"); set_state(w, state)
        >>> w.attrs, w.exact
        ({'order': 'C'}, True)
    """
    obj.state = state
    attrs = obj.attrs
    if attrs is None:
        return
    slotstate: object = None
    if state.__class__ is tuple and len(state) == 2:
        state, slotstate = state
    for part in (state, slotstate):
        if part is None or part is False or part == 0 or part == "" or part == ():
            continue
        if part.__class__ is TDict and not part.lossy:
            for k, v in part.items():
                if type(k) is str:
                    attrs[k] = v
        elif part.__class__ is TDict:
            obj.exact = False
        else:
            obj.exact = False  # not a dict we can read: the loader fails or we cannot follow


def _spec_size(spec: str) -> tuple[str, int] | None:
    """``('fixed'|'object'|'flex', itemsize)`` of a dtype string; None when not exact."""
    s = spec[1:] if spec[:1] in ("<", ">", "=", "|") else spec
    if s[:1] in ("M", "m") and s.endswith("]") and "[" in s:
        s = s[: s.index("[")]
    if s in _FIXED:
        return "fixed", _FIXED[s]
    if s in ("O", "O8", "object", "object_"):
        return "object", 8
    kind, num = s[:1], s[1:]
    if kind in _FLEX and (num == "" or (num.isdigit() and num.isascii())):
        return "flex", _FLEX[kind] * int(num or "0")
    return None


def dtype_info(dtype: object, depth: int = 0) -> tuple[int, bool] | str:
    """``(itemsize, hasobject)`` of a tracked ``numpy.dtype(...)``, or why it is not exact.

    Example:
        >>> d = Obj(GlobalRef("numpy", "dtype"), ("f8", False, True), "REDUCE")
        >>> dtype_info(d)
        (8, False)
        >>> dtype_info(Obj(GlobalRef("numpy", "dtype"), ("l", False, True), "REDUCE"))
        "dtype 'l' has no fixed size"
    """
    if dtype.__class__ is not Obj or depth > 4:
        return "dtype is not a numpy.dtype(...) call"
    cls = dtype.cls
    if cls.__class__ is not GlobalRef or cls.name != "dtype" or cls.module not in _DTYPE_MODULES:
        return "dtype is not a numpy.dtype(...) call"
    args = dtype.args
    if args.__class__ is not tuple or not 1 <= len(args) <= 3 or type(args[0]) is not str:
        return "dtype arguments not a plain type string"
    spec = _spec_size(args[0])
    if spec is None:
        return f"dtype {args[0][:32]!r} has no fixed size"
    kind, size = spec
    state = dtype.state
    if state is MISSING:
        return (size, kind == "object")
    if state.__class__ is not tuple or len(state) < 8 or state[0] not in (3, 4):
        return "dtype state not understood"
    _version, _order, subarray, names, fields, elsize, _align, flags = state[:8]
    if subarray is not None or type(elsize) is not int or type(flags) is not int:
        return "dtype state not understood"
    if kind == "object":
        return (8, True)
    if kind == "fixed":
        if fields is not None or names is not None or elsize not in (-1, size) or flags & 1:
            return "dtype state contradicts its type"
        return (size, False)
    # Flexible types take their size (and object flag) from the state, as numpy does.
    if elsize < 0:
        return "dtype state has no size"
    if fields is None and names is None:
        return "dtype state flags objects in a plain type" if flags & 1 else (elsize, False)
    if fields.__class__ is not TDict or fields.lossy:
        return "dtype fields not tracked"
    any_object = False
    for field in fields.values():
        if field.__class__ is not tuple or not field:
            return "dtype field not understood"
        info = dtype_info(field[0], depth + 1)
        if isinstance(info, str):
            return info
        any_object = any_object or info[1]
    if any_object != bool(flags & 1):
        return "dtype object flag contradicts its fields"
    return (elsize, any_object)


def _payload(attrs: dict[str, object]) -> tuple[bool, int, bool] | str:
    """``(padding byte?, data bytes, object array?)`` of a NumpyArrayWrapper."""
    shape = attrs.get("shape", MISSING)
    if shape.__class__ is TList and shape.lossy:
        return "shape not tracked"
    if shape.__class__ not in (tuple, TList):
        return "shape is not a tuple"
    count = 1
    for dim in shape:
        if not isinstance(dim, int) or dim < 0:  # int or bool, as numpy's reshape takes them
            return "shape has a dimension that is not a non-negative int"
        count *= dim
    info = dtype_info(attrs.get("dtype", MISSING))
    if isinstance(info, str):
        return info
    itemsize, hasobject = info
    align = attrs.get("numpy_array_alignment_bytes", MISSING)
    if align is _U:
        return "alignment not tracked"
    return (align is not MISSING and align is not None, count * itemsize, hasobject)


def _mentions_wrapper(value: object, depth: int = 0) -> bool:
    if _wrapper_kind(value) is not None:
        return True
    if value.__class__ is Obj:
        return _wrapper_kind(instance_class(value)) is not None
    if depth < 3 and value.__class__ in (tuple, TList):
        return any(_mentions_wrapper(v, depth + 1) for v in value)
    if depth < 3 and value.__class__ is TDict:
        return any(_mentions_wrapper(v, depth + 1) for v in value.values())
    return False


def _fail(walker: Walker, why: str) -> None:
    from modelsec.scanner.pickle_stream import Bad

    walker.unresolved("BUILD", f"joblib array wrapper: {why} (payload not sized, fail closed)")
    raise Bad(f"joblib array wrapper: {why}")


def after_build(walker: Walker, inst: object) -> None:
    """joblib's ``NumpyUnpickler.load_build`` tail: replace a wrapper by the array it reads.

    Example:
        >>> from modelsec.scanner.pickle_scan import walk_pickle
        >>> from modelsec.scanner.source import ByteSource
        >>> blob = (b"\\x80\\x02cjoblib.numpy_pickle\\nNumpyArrayWrapper\\n)\\x81}b.")
        >>> walk_pickle(ByteSource.from_bytes(blob)).unresolved[0][2][:38]
        'joblib array wrapper: shape is not a t'
    """
    if inst.__class__ is not Obj:
        if inst is _U and walker.wrapper_seen:
            _fail(walker, "BUILD on an untracked object after a wrapper class was imported")
        return
    cls = instance_class(inst)
    kind = _wrapper_kind(cls)
    if kind is None:
        if walker.wrapper_seen and (
            cls is None or (inst.kind == "REDUCE" and _mentions_wrapper(inst.args))
        ):
            _fail(walker, "BUILD on an object that may be a wrapper")
        return
    attrs = inst.attrs
    if attrs is None or not inst.exact:
        _fail(walker, "attributes not tracked")
    assert attrs is not None
    walker.stack.pop()
    if kind != "NumpyArrayWrapper":
        # Reads a companion file next to the pickle (np.load(allow_pickle=True) of it).
        name = attrs.get("filename")
        if not (
            type(name) is str
            and name
            and "/" not in name
            and "\\" not in name
            and name not in (".", "..")
        ):
            walker.unresolved("BUILD", f"joblib {kind} loads a file outside its directory")
        walker.append(_U)
        return
    payload = _payload(attrs)
    if isinstance(payload, str):
        _fail(walker, payload)
        return
    pad, nbytes, hasobject = payload
    if walker.frame_left():
        _fail(walker, "array bytes inside a FRAME (loaders disagree where they start)")
    if hasobject:
        # (pickle.load of the same file would read this nested pickle as the rest of the
        # outer one, its memo indexes pointing into the outer memo: not followed, see
        # Walker.shadow.)
        walker.begin_nested()
        return
    walker.shadow()  # pickle.load of the same file reads the array bytes as opcodes
    if pad:
        walker.skip(walker.read1())
    walker.skip(nbytes)
    walker.append(_U)
