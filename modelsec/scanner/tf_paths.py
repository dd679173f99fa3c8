"""TensorFlow graphs as small records, and the folding of a path argument to its strings.

A SavedModel's saver and asset operators receive their paths from the loader (the
``saver_filename`` placeholder, an asset path fed as a function argument) joined with literal
suffixes (``_temp/part``, ``.part``). :func:`fold_paths` evaluates such a path argument
symbolically: literals are kept, loader-fed values become the marker :data:`FED`, string
joins/selects/packs are followed, and function arguments are followed to every call site
(``PartitionedCall``, ``If``, ``While``, ``Case``, direct calls), so a literal ``/etc/passwd``
handed to a saver through two functions is still seen. What cannot be evaluated gives ``None``.
"""

from __future__ import annotations

import itertools

__all__ = ["CALLER_OPS", "FED", "FOLDED_OPS", "Graph", "Node", "Scope", "fold_paths"]

#: Stands for a value the loader feeds (placeholder, uncalled function argument, variable):
#: a relative name, so ``FED + "/../../x"`` still escapes and ``FED + "_temp/part"`` does not.
FED = "<loader>"
_MAX_DEPTH = 32
_MAX_VISITS = 512
_MAX_CANDIDATES = 64

_PASS_THROUGH = frozenset(["Identity", "Snapshot", "StopGradient", "IdentityN", "Pack"])
_FED_OPS = frozenset(["Placeholder", "PlaceholderV2", "_Arg", "ReadVariableOp"])
# Ops calling library functions: (attributes naming the callee(s), first input bound to arg 0).
_CALLERS: dict[str, tuple[tuple[str, ...], int]] = {
    "PartitionedCall": (("f",), 0),
    "StatefulPartitionedCall": (("f",), 0),
    "If": (("then_branch", "else_branch"), 1),
    "StatelessIf": (("then_branch", "else_branch"), 1),
    "Case": (("branches",), 1),
    "StatelessCase": (("branches",), 1),
    "While": (("cond", "body"), 0),
    "StatelessWhile": (("cond", "body"), 0),
}

#: Ops whose nodes call library functions (their inputs bind the callee's arguments).
CALLER_OPS = frozenset(_CALLERS)
#: Ops the folding looks through or evaluates (every other producer makes a path unknown).
FOLDED_OPS = frozenset(
    [
        *_PASS_THROUGH,
        *_FED_OPS,
        "Const",
        "PlaceholderWithDefault",
        "Select",
        "SelectV2",
        "StringJoin",
        "ShardedFilename",
        "ShardedFilespec",
    ]
)


class Node:
    """One NodeDef: name, op, inputs, the attributes the scanner uses, Const strings."""

    __slots__ = ("attrs", "inputs", "name", "op", "strings")

    def __init__(self) -> None:
        self.name = ""
        self.op = ""
        self.inputs: list[str] = []
        self.attrs: dict[str, list[str]] = {}
        #: string_val of a DT_STRING ``value`` tensor (``None``: not one, or too large).
        self.strings: list[str] | None = None

    def data_inputs(self) -> list[str]:
        return [i for i in self.inputs if not i.startswith("^")]


class Scope:
    """The main graph or one function body."""

    def __init__(self, *, is_function: bool = False) -> None:
        self.name = ""
        self.is_function = is_function
        self.args: list[str] = []
        self.nodes: dict[str, Node] = {}
        #: Every node kept, duplicates of a name included (TensorFlow refuses duplicate names,
        #: but each one is judged all the same).
        self.all: list[Node] = []

    def add(self, node: Node) -> None:
        self.nodes[node.name] = node
        self.all.append(node)


class Graph:
    """A GraphDef: its main scope and its function library, with the call sites indexed."""

    def __init__(self) -> None:
        self.main = Scope()
        self.functions: dict[str, Scope] = {}
        #: Function bodies whose name another function took again (judged, never called).
        self.shadowed: list[Scope] = []
        #: callee -> [(caller scope, calling node, input index bound to argument 0)]
        self.calls: dict[str, list[tuple[Scope, Node, int]]] = {}
        #: Main-graph nodes the loader feeds (MetaGraphDef asset tensors, saver filename).
        self.fed: set[str] = set()
        #: AssetFileDef file names (relative to the SavedModel's assets/ directory).
        self.assets: list[str] = []

    def scopes(self) -> list[Scope]:
        """The main graph, every function, and shadowed duplicates."""
        return [self.main, *self.functions.values(), *self.shadowed]

    def index_calls(self) -> None:
        self.calls.clear()
        for scope in self.scopes():
            for node in scope.all:
                if node.op in self.functions:
                    self.calls.setdefault(node.op, []).append((scope, node, 0))
                attrs, offset = _CALLERS.get(node.op, ((), 0))
                for attr in attrs:
                    for callee in node.attrs.get(attr, []):
                        self.calls.setdefault(callee, []).append((scope, node, offset))


def fold_paths(graph: Graph, scope: Scope, ref: str) -> set[str] | None:
    """The strings the tensor ``ref`` (a NodeDef input) can hold, or ``None`` if unknown.

    Example:
        >>> g = Graph()
        >>> for name, op, strings in [("p", "Placeholder", None), ("c", "Const", ["/x"])]:
        ...     n = Node(); n.name, n.op, n.strings = name, op, strings; g.main.add(n)
        >>> j = Node(); j.name, j.op, j.inputs = "j", "StringJoin", ["p", "c:0"]
        >>> g.main.add(j); g.index_calls()
        >>> sorted(fold_paths(g, g.main, "j"))
        ['<loader>/x']
    """
    return _Folder(graph).fold(scope, ref, 0)


class _Folder:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.visits = 0

    def fold(self, scope: Scope, ref: str, depth: int) -> set[str] | None:
        self.visits += 1
        if depth > _MAX_DEPTH or self.visits > _MAX_VISITS or ref.startswith("^"):
            return None
        name = ref.split(":", 1)[0]
        if scope.is_function and ":" not in ref and ref in scope.args:
            return self.argument(scope, scope.args.index(ref), depth)
        if not scope.is_function and name in self.graph.fed:
            return {FED}
        node = scope.nodes.get(name)
        if node is None:
            return None
        return self.node(scope, node, depth)

    def argument(self, scope: Scope, index: int, depth: int) -> set[str] | None:
        sites = self.graph.calls.get(scope.name, [])
        if not sites:
            return {FED}  # called by the loader (saver / initializer functions)
        out: set[str] = set()
        for caller, node, offset in sites:
            inputs = node.data_inputs()
            if offset + index >= len(inputs):
                return None
            got = self.fold(caller, inputs[offset + index], depth + 1)
            if got is None:
                return None
            out |= got
        return out

    def node(self, scope: Scope, node: Node, depth: int) -> set[str] | None:
        op = node.op
        inputs = node.data_inputs()
        if op == "Const":
            return None if node.strings is None else set(node.strings)
        if op in _FED_OPS:
            return {FED}
        if op == "PlaceholderWithDefault":
            default = self.fold(scope, inputs[0], depth + 1) if inputs else None
            return None if default is None else default | {FED}
        if op in _PASS_THROUGH or op in ("Select", "SelectV2"):
            picked = inputs[1:] if op in ("Select", "SelectV2") else inputs
            return self.union(scope, picked, depth)
        if op == "StringJoin":
            return self.join(scope, node, inputs, depth)
        if op in ("ShardedFilename", "ShardedFilespec") and inputs:
            base = self.fold(scope, inputs[0], depth + 1)
            return None if base is None else {b + "-00000-of-00001" for b in base}
        return None

    def union(self, scope: Scope, refs: list[str], depth: int) -> set[str] | None:
        out: set[str] = set()
        for ref in refs:
            got = self.fold(scope, ref, depth + 1)
            if got is None:
                return None
            out |= got
        return out if len(out) <= _MAX_CANDIDATES else None

    def join(self, scope: Scope, node: Node, refs: list[str], depth: int) -> set[str] | None:
        sep = (node.attrs.get("separator") or [""])[0]
        parts: list[set[str]] = []
        total = 1
        for ref in refs:
            got = self.fold(scope, ref, depth + 1)
            if got is None:
                return None
            total *= max(1, len(got))
            if total > _MAX_CANDIDATES:
                return None
            parts.append(got)
        return {sep.join(combo) for combo in itertools.product(*parts)}
