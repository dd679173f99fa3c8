"""Chat-template analysis on the syntax tree ``jinja2`` itself builds (never rendered).

The template is parsed by ``jinja2``'s own lexer and parser (an ``ImmutableSandboxedEnvironment``
with the extensions transformers enables), so string literals, raw blocks and comments are
exactly what a renderer sees: text is data, and no word in it matters. On the tree we judge
every attribute and item lookup, every filter that looks attributes up by name, ``str.format``
strings and template loading. Names a template computes at render time (``"_"*2 ~ "class"``,
``|reverse``, ``|join``, ``|format``, slices, ``set`` variables, macro parameters) are followed
by a small abstract evaluation (:mod:`modelsec.scanner.jinja_values`): each expression is a
set of possible literal values, plus "context data" (messages, tools: not written by the
template author), "built" (computed from template text we could not fold) and "assembled" (put
together at render time from pieces, object reprs included). A lookup key that may be an
internal name, built or assembled, is reported; a key taken from context data is not (indexing
a mapping by a message's role is ordinary).
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes
from jinja2.ext import Extension, do, loopcontrols
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from modelsec.scanner.jinja_rules import (
    ATTRIBUTE_FILTERS,
    ESCAPE_GLOBALS,
    format_field_attributes,
    internal_name,
)
from modelsec.scanner.jinja_values import (
    BUILT,
    DATA,
    MAX_LITS,
    MAX_STR,
    NUMBER_FILTERS,
    RECEIVER_ONLY_FILTERS,
    RECEIVER_ONLY_METHODS,
    STR_FILTERS,
    STR_METHODS,
    Val,
    add,
    assemble,
    derive,
    extract,
    fold,
    index,
    jstr,
    mul,
    partial,
)
from modelsec.scanner.report import printable

__all__ = ["analyse_ast"]

_MAX_REASONS = 10
_MAX_ROUNDS = 200


class _Generation(Extension):
    """transformers' ``{% generation %}...{% endgeneration %}`` (AssistantTracker), parsed only."""

    tags = {"generation"}  # noqa: RUF012 - jinja2's API is a class attribute

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


_ENV: ImmutableSandboxedEnvironment | None = None


def _env() -> ImmutableSandboxedEnvironment:
    global _ENV
    if _ENV is None:
        # transformers: trim_blocks, lstrip_blocks, loopcontrols, AssistantTracker; ``do`` too so
        # that templates written for other engines are still judged on their expressions.
        _ENV = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, do, _Generation]
        )
    return _ENV


def _as_tuple(*items: Any) -> tuple[Any, ...]:
    return items


def _join(sep: Any, items: Any) -> str:
    if not isinstance(sep, str):
        raise TypeError("not a string")
    return sep.join(jstr(x) for x in items)


# Operations that put strings together (the rest only take parts of their input).
_ASSEMBLING_FILTERS = frozenset(
    {
        "join",
        "format",
        "replace",
        "center",
        "indent",
        "wordwrap",
        "truncate",
        "urlencode",
        "xmlattr",
    }
)
_ASSEMBLING_METHODS = frozenset(
    {"join", "format", "format_map", "replace", "center", "ljust", "rjust", "zfill", "expandtabs"}
)
# Filters whose result is a string whatever went in (object reprs included).
_TEXT_FILTERS = frozenset(
    {"string", "lower", "upper", "title", "capitalize", "trim", "e", "escape", "safe", "pprint"}
)


class _Analyser:
    def __init__(self, tree: nodes.Template) -> None:
        self.tree = tree
        self.reasons: list[str] = []
        self.sources: dict[str, list[tuple[str, Any]]] = {}
        self.attr_sources: dict[str, list[nodes.Expr]] = {}
        self.macros: dict[str, nodes.Macro] = {}
        self.calls: dict[str, list[nodes.Call]] = {}
        self.memo: dict[str, Val] = {}
        self.attr_memo: dict[str, Val] = {}

    # --- collection ------------------------------------------------------------------------

    def _bind(self, target: nodes.Node, kind: str, src: Any) -> None:
        if isinstance(target, nodes.Name):
            self.sources.setdefault(target.name, []).append((kind, src))
        elif isinstance(target, nodes.NSRef):
            if isinstance(src, nodes.Expr) and kind == "value":
                self.attr_sources.setdefault(target.attr, []).append(src)
            self._flag_name(target.attr, "namespace attribute")
        elif isinstance(target, (nodes.Tuple, nodes.List)):
            # Unpacking: each name gets a component of the value ("elem" N levels down).
            deeper = "elem1" if kind == "value" else kind
            if deeper.startswith("elem"):
                deeper = f"elem{int(deeper[4:]) + 1}" if kind != "value" else deeper
            for item in target.items:
                self._bind(item, deeper, src)

    def collect(self) -> None:
        for node in self.tree.find_all(nodes.Node):
            if isinstance(node, nodes.Assign):
                self._bind(node.target, "value", node.node)
            elif isinstance(node, nodes.AssignBlock):
                body_text = all(
                    isinstance(o, nodes.Output)
                    and all(isinstance(c, nodes.TemplateData) for c in o.nodes)
                    for o in node.body
                )
                self._bind(node.target, "block", node if body_text else None)
            elif isinstance(node, nodes.For):
                self._bind(node.target, "elem1", node.iter)
            elif isinstance(node, nodes.With):
                for target, value in zip(node.targets, node.values, strict=False):
                    self._bind(target, "value", value)
            elif isinstance(node, nodes.Macro):
                self.macros[node.name] = node
            elif isinstance(node, nodes.CallBlock):
                for arg in node.args:
                    self._bind(arg, "caller", None)
            elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
                self.calls.setdefault(node.node.name, []).append(node)
                if node.node.name == "namespace":
                    for kw in node.kwargs:
                        self.attr_sources.setdefault(kw.key, []).append(kw.value)
            elif isinstance(node, (nodes.Import, nodes.FromImport)):
                self._reason("loads another template ({% import %})")
                names = [node.target] if isinstance(node, nodes.Import) else []
                if isinstance(node, nodes.FromImport):
                    names = [n if isinstance(n, str) else n[-1] for n in node.names]
                for name in names:
                    self.sources.setdefault(name, []).append(("built", None))
        # Extra arguments reach a macro body as ``varargs`` and ``kwargs``.
        for name in self.macros:
            for call in self.calls.get(name, []):
                for extra in call.args:
                    self.sources.setdefault("varargs", []).append(("opaque", extra))
                for kw in call.kwargs:
                    self.sources.setdefault("kwargs", []).append(("opaque", kw.value))
                    self.sources["kwargs"].append(("value", nodes.Const(kw.key)))
        for name, macro in self.macros.items():
            offset = len(macro.args) - len(macro.defaults)
            for i, arg in enumerate(macro.args):
                if i >= offset:
                    self._bind(arg, "value", macro.defaults[i - offset])
                self.sources.setdefault(arg.name, []).append(("param", (name, i)))

    # --- evaluation ------------------------------------------------------------------------

    def solve(self) -> bool:
        """Least fixed point of the variable and namespace-attribute values (monotone, bounded:
        literal sets collapse to "built" past a cap), so loops such as
        ``{% set ns.i = ns.i + 1 %}`` need no recursion. False if it did not converge."""
        for _ in range(_MAX_ROUNDS):
            changed = False
            for name, sources in self.sources.items():
                val = Val()
                for kind, src in sources:
                    val = val | self._source(kind, src)
                if val != self.memo.get(name, Val()):
                    self.memo[name] = val
                    changed = True
            for attr, exprs in self.attr_sources.items():
                val = Val()
                for expr in exprs:
                    val = val | self.eval(expr)
                if val != self.attr_memo.get(attr, Val()):
                    self.attr_memo[attr] = val
                    changed = True
            if not changed:
                return True
        return False

    def name(self, name: str) -> Val:
        # The context may provide any name too (before a ``set``, or when never set).
        return DATA | self.memo.get(name, Val())

    def _source(self, kind: str, src: Any) -> Val:
        if kind == "value":
            return self.eval(src)
        if kind.startswith("elem"):
            val = self.eval(src)
            for _ in range(int(kind[4:])):
                val = self.elements(val)
            return val
        if kind == "opaque":
            return derive(self.eval(src))
        if kind == "block":
            if src is None:
                return BUILT
            text = "".join(c.data for o in src.body for c in o.nodes)
            return Val([text]) if len(text) <= MAX_STR else BUILT
        if kind == "param":
            macro, index = src
            arg_name = self.macros[macro].args[index].name
            val = DATA
            for call in self.calls.get(macro, []):
                if index < len(call.args):
                    val = val | self.eval(call.args[index])
                for kw in call.kwargs:
                    if kw.key == arg_name:
                        val = val | self.eval(kw.value)
                if call.dyn_args is not None or call.dyn_kwargs is not None:
                    val = val | derive(self.eval(call.dyn_args or call.dyn_kwargs))
            return val
        if kind == "caller":
            val = DATA
            for call in self.calls.get("caller", []):
                for arg in [*call.args, *(kw.value for kw in call.kwargs)]:
                    val = val | self.eval(arg)
            return val
        return BUILT

    def elements(self, v: Val) -> Val:
        out = Val(data=v.data, built=v.built)
        for lit in v.lits:
            if isinstance(lit, (str, tuple)):
                out = out | Val(lit[:MAX_LITS])
                if len(lit) > MAX_LITS:
                    out = out | BUILT
        return out

    def eval(self, node: nodes.Node | None) -> Val:
        if node is None:
            return DATA
        if isinstance(node, nodes.Const):
            value = node.value
            return Val([value]) if isinstance(value, (str, int, float, bool, type(None))) else DATA
        if isinstance(node, nodes.TemplateData):
            return Val([node.data])
        if isinstance(node, (nodes.Tuple, nodes.List)):
            items = [self.eval(i) for i in node.items]
            return fold(items, _as_tuple) or derive(*items)
        if isinstance(node, nodes.Dict):
            # Iterating (|join, |first, for) yields the keys, subscripts the values: a mapping
            # is the two tuples (an over-approximation of both uses).
            keys = [self.eval(p.key) for p in node.items]
            values = [self.eval(p.value) for p in node.items]
            return self._mapping(keys, values)
        if isinstance(node, nodes.Name):
            return self.name(node.name)
        if isinstance(node, nodes.Concat):
            parts = [self.eval(n) for n in node.nodes]
            return fold(parts, lambda *xs: "".join(jstr(x) for x in xs)) or assemble(*parts)
        if isinstance(node, (nodes.Add, nodes.Mul)):
            left, right = self.eval(node.left), self.eval(node.right)
            op = add if isinstance(node, nodes.Add) else mul
            folded = fold([left, right], op)
            if folded is not None:
                return folded
            # + and * of strings put strings together; of numbers they are arithmetic
            return assemble(left, right) if left.textual or right.textual else DATA
        if isinstance(node, nodes.Mod):
            left, right = self.eval(node.left), self.eval(node.right)
            return assemble(left, right) if left.textual else DATA  # "%c" % 95 is "_"
        if isinstance(node, nodes.Neg):
            operand = self.eval(node.node)
            return fold([operand], lambda x: -x if isinstance(x, (int, float)) else None) or DATA
        if isinstance(node, (nodes.Sub, nodes.Div, nodes.FloorDiv, nodes.Pow, nodes.UnaryExpr)):
            return DATA  # numbers only (or a render error)
        if isinstance(node, (nodes.Compare, nodes.Test, nodes.Not)):
            return DATA
        if isinstance(node, (nodes.And, nodes.Or)):
            return self.eval(node.left) | self.eval(node.right)
        if isinstance(node, nodes.CondExpr):
            return self.eval(node.expr1) | self.eval(node.expr2)
        if isinstance(node, nodes.Slice):
            parts = [
                self.eval(p) if p is not None else Val([None])
                for p in (node.start, node.stop, node.step)
            ]
            return fold(parts, _as_tuple) or DATA
        if isinstance(node, nodes.Getattr):
            # jinja2's getattr falls back to item lookup: on a literal mapping ``d.k`` is a value
            container = self.eval(node.node)
            val = DATA | self.attr_memo.get(node.attr, Val())
            if container.lits:
                val = val | self.elements(container)
            return val | Val(built=container.built)
        if isinstance(node, nodes.Getitem):
            container, key = self.eval(node.node), self.eval(node.arg)
            folded = fold([container, key], index)
            if folded is not None:
                return folded
            if container.lits:
                return self.elements(container) | extract(Val(data=container.data))
            return extract(container)
        if isinstance(node, nodes.Filter):
            return self._filter_value(node)
        if isinstance(node, nodes.Call):
            return self._call_value(node)
        if isinstance(node, (nodes.MarkSafe, nodes.MarkSafeIfAutoescape)):
            return self.eval(node.expr)
        return derive(*(self.eval(c) for c in node.iter_child_nodes() if isinstance(c, nodes.Expr)))

    def _mapping(self, keys: list[Val], values: list[Val]) -> Val:
        key_part = fold(keys, _as_tuple) or derive(*keys)
        value_part = fold(values, _as_tuple) or derive(*values)
        return key_part | value_part

    def _filter_value(self, node: nodes.Filter) -> Val:
        if node.name in NUMBER_FILTERS:
            return DATA
        base = self.eval(node.node)
        args = [self.eval(a) for a in node.args] + [self.eval(k.value) for k in node.kwargs]
        args += [self.eval(n) for n in (node.dyn_args, node.dyn_kwargs) if n is not None]
        plain = not node.kwargs and node.dyn_args is None and node.dyn_kwargs is None
        if node.name in ("default", "d"):
            return base | (args[0] if args else DATA)
        if node.name in _ASSEMBLING_FILTERS:
            op = STR_FILTERS.get(node.name) if plain else None
            folded = fold([base, *args], op) if op is not None else None
            if folded is not None:
                return folded
            return assemble(base, *args)
        if plain and node.name in STR_FILTERS:
            folded = partial(base, args, STR_FILTERS[node.name])
            if folded is not None:
                return folded | Val(text=node.name in _TEXT_FILTERS)
        if node.name in RECEIVER_ONLY_FILTERS or (node.name in STR_FILTERS and not args):
            return extract(base) | Val(text=node.name in _TEXT_FILTERS)
        if base.textual or any(a.textual for a in args):
            return assemble(base, *args)  # a filter we do not model: assume it joins text
        return derive(base, *args)

    def _call_value(self, node: nodes.Call) -> Val:
        args = [self.eval(a) for a in node.args] + [self.eval(k.value) for k in node.kwargs]
        args += [self.eval(n) for n in (node.dyn_args, node.dyn_kwargs) if n is not None]
        callee = node.node
        if isinstance(callee, nodes.Getattr):
            recv = self.eval(callee.node)
            method = callee.attr
            plain = not node.kwargs and node.dyn_args is None and node.dyn_kwargs is None
            if method in _ASSEMBLING_METHODS:
                op = (_join if method == "join" else STR_METHODS.get(method)) if plain else None
                folded = fold([recv, *args], op) if op is not None else None
                return folded if folded is not None else assemble(recv, *args)
            if method in STR_METHODS and plain:
                folded = partial(recv, args, STR_METHODS[method])
                if folded is not None:
                    return folded | Val(text=recv.textual)
            if method in RECEIVER_ONLY_METHODS:
                return extract(recv)
            if method in ("get", "pop"):
                return DATA | (args[1] if len(args) > 1 else DATA)
            return derive(recv, *args)
        if isinstance(callee, nodes.Name):
            if callee.name in self.macros or callee.name == "caller":
                return BUILT  # rendered template text
            if callee.name == "dict" and callee.name not in self.sources:
                # dict(__cla=1, ss__=1)|join: keyword names are template-written strings
                keys = [Val([k.key]) for k in node.kwargs]
                values = [self.eval(k.value) for k in node.kwargs]
                extra = [self.eval(n) for n in (*node.args, node.dyn_args, node.dyn_kwargs) if n]
                return self._mapping(keys, values) | derive(*extra)
            if callee.name in ("range", "namespace", "lipsum") and callee.name not in self.sources:
                return DATA
        # What a call returns may come from the callee (joiner('__x'), a variable holding one)
        # or from its arguments (loop.cycle('__a', 'b')).
        return derive(self.eval(callee), *args) | DATA

    # --- checks ----------------------------------------------------------------------------

    def _reason(self, reason: str) -> None:
        if reason not in self.reasons and len(self.reasons) < _MAX_REASONS:
            self.reasons.append(reason)

    def _flag_name(self, name: str, what: str) -> None:
        if internal_name(name):
            self._reason(f"{what} {printable(name, 80)!r} reaches Python internals")

    def _flag_key(self, val: Val, what: str) -> None:
        for lit in sorted(val.lits, key=repr):
            if isinstance(lit, str):
                self._flag_name(lit, what)
        if val.built or val.assembled:
            self._reason(f"{what} is a string built at render time (a computed attribute name)")

    def _global(self, node: nodes.Node) -> str | None:
        # A template may shadow a global with its own variable: only the real global counts.
        if (
            isinstance(node, nodes.Name)
            and node.name in ESCAPE_GLOBALS
            and node.name not in self.sources
        ):
            return node.name
        return None

    def check(self) -> None:
        for node in self.tree.find_all(nodes.Node):
            if isinstance(node, nodes.Getattr):
                self._flag_name(node.attr, "attribute")
                glob = self._global(node.node)
                if glob is not None:
                    self._reason(
                        f"looks inside the Jinja global {glob!r} (.{printable(node.attr, 60)})"
                    )
            elif isinstance(node, nodes.Getitem):
                if not isinstance(node.arg, nodes.Slice):
                    self._flag_key(self.eval(node.arg), "item key")
                glob = self._global(node.node)
                if glob is not None:
                    self._reason(f"looks inside the Jinja global {glob!r} (subscript)")
            elif isinstance(node, nodes.Filter):
                self._check_filter(node)
            elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
                if node.node.attr in ("format", "format_map"):
                    self._check_format(self.eval(node.node.node))
            elif isinstance(node, (nodes.Include, nodes.Extends)):
                kind = "include" if isinstance(node, nodes.Include) else "extends"
                self._reason(f"loads another template ({{% {kind} %}})")

    def _check_filter(self, node: nodes.Filter) -> None:
        spec = ATTRIBUTE_FILTERS.get(node.name)
        if spec is None:
            return
        position, keyword = spec
        what = f"|{node.name} attribute name"
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            self._reason(f"|{node.name} takes its arguments from an unpacked value")
        if node.name == "map" and node.args:
            chosen = self.eval(node.args[0])
            if not chosen.literal:
                self._reason("|map applies a filter chosen at render time")
            elif "attr" in chosen.lits:
                self._check_attr_name(
                    self.eval(node.args[1]) if len(node.args) > 1 else BUILT, what
                )
        if position is not None and len(node.args) > position:
            self._check_attr_name(self.eval(node.args[position]), what)
        if keyword:
            for kw in node.kwargs:
                if kw.key == "attribute":
                    self._check_attr_name(self.eval(kw.value), what)

    def _check_attr_name(self, val: Val, what: str) -> None:
        self._flag_key(val, what)
        if val.data and not val.built:
            self._reason(f"{what} is chosen at render time (a computed attribute name)")

    def _check_format(self, recv: Val) -> None:
        if not recv.literal:
            self._reason("str.format on a format string computed at render time")
        for lit in recv.lits:
            if not isinstance(lit, str):
                continue
            attrs = format_field_attributes(lit)
            for attr in attrs or []:
                self._flag_name(attr, "str.format field attribute")


def analyse_ast(template: str) -> tuple[list[str], str | None]:
    """``(reasons, error)`` for ``template`` parsed by ``jinja2`` (never rendered); ``error``
    says why it could not be parsed or fully analysed.

    Example:
        >>> analyse_ast("{% for m in messages %}{{ m['content'] }}{% endfor %}")
        ([], None)
        >>> analyse_ast("{{ ''[('_'*2) ~ 'class' ~ ('_'*2)] }}")[0]
        ["item key '__class__' reaches Python internals"]
    """
    from jinja2.exceptions import TemplateSyntaxError

    try:
        tree = _env().parse(template)
    except TemplateSyntaxError as exc:
        detail = printable(str(exc.message or exc), 200)
        return [], f"is not a valid Jinja template for jinja2 (line {exc.lineno}: {detail})"
    except RecursionError:
        return [], "is nested too deeply for jinja2's parser"
    except Exception as exc:  # any parser failure: fail closed, never crash the scan
        return [], f"is not a valid Jinja template for jinja2 (parser failed: {type(exc).__name__})"
    analyser = _Analyser(tree)
    try:
        analyser.collect()
        if not analyser.solve():
            return analyser.reasons, "could not be fully analysed (variables too intertwined)"
        analyser.check()
    except RecursionError:
        return analyser.reasons, "could not be fully analysed (nested too deeply)"
    except Exception as exc:  # a bug or an input we did not foresee: fail closed, never crash
        return analyser.reasons, f"could not be fully analysed ({type(exc).__name__})"
    return analyser.reasons, None
