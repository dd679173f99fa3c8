"""Repository pass: which ``.py`` files a loader executes, judged across files.

Per-file scanning already judges what every ``.py`` runs when imported or constructed
(``PAIT-PY-100``). This pass adds what needs the whole directory:

* **reachability**: the files loaders execute, named by ``auto_map`` (``config.json``,
  ``tokenizer_config.json``, the processor configs; ``module.Class`` and ``org/repo--module.Class``
  forms), ``custom_pipelines`` in ``config.json``, diffusers ``model_index.json`` components whose
  library is a local module, sentence-transformers ``modules.json`` types, MLflow ``code/``
  directories, plus every repository file they import (relative and same-directory imports,
  transitively);
* for reachable files: functions of *other* files called from load-time code
  (``__init__`` calling ``utils.helper``) are judged as load time, other function bodies as run
  time (``PAIT-PY-300``: code a loader installs and the model calls, e.g. in ``forward``), and a
  file that does not parse fails closed (the loader's Python may accept syntax ours rejects);
* code the configuration names but the scan cannot see (another repository's module, a file
  missing or filtered out by the patterns) fails closed on the configuration file.

Files no loader reaches (training or conversion scripts) keep only the per-file load-time
judgement: running a script by hand is not loading the model.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator

import attrs

from modelsec.scanner.limits import ScanLimits
from modelsec.scanner.loadtime import PY_LOAD, PY_RUNTIME, parse_source, report_calls
from modelsec.scanner.pysource import ModuleInfo
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.walk import Entry
from modelsec.types.data import FileScanData
from modelsec.types.enums import ModelScanStatus

__all__ = ["AUTO_MAP_FILES", "analyse_repository", "code_references"]

#: Configuration files whose ``auto_map`` names code ``trust_remote_code`` loads.
AUTO_MAP_FILES = frozenset(
    {
        "config.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
        "processor_config.json",
        "feature_extractor_config.json",
        "image_processor_config.json",
        "video_preprocessor_config.json",
    }
)

# diffusers/transformers component libraries that are installed packages, not local files.
_LIBRARIES = frozenset({"diffusers", "transformers", "onnxruntime", "flax", "peft", "torch"})
_MAX_CONFIG_BYTES = 16 << 20
_MAX_ROUNDS = 64


@attrs.frozen
class CodeRef:
    """One reference from a configuration to code: ``path`` (a ``.py`` relative to the scan
    root, or ``None`` when outside the repository), the ``symbol`` named in it, the referring
    file and how it referred."""

    path: str | None
    symbol: str | None
    referrer: str
    how: str


def _load_json(path: str) -> object:
    try:
        with open(path, "rb") as fp:
            data = fp.read(_MAX_CONFIG_BYTES + 1)
        if len(data) > _MAX_CONFIG_BYTES:
            return None
        return json.loads(data.decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return None  # the per-file scan reports unreadable or invalid JSON


def _module_file(base: str, module: str) -> str:
    return posixpath.normpath(posixpath.join(base, module.replace(".", "/") + ".py"))


def _auto_map_refs(rel: str, doc: dict[str, object]) -> Iterator[CodeRef]:
    base = posixpath.dirname(rel)
    refs: list[tuple[str, str]] = []
    auto_map = doc.get("auto_map")
    if isinstance(auto_map, dict):
        for key, val in auto_map.items():
            for item in val if isinstance(val, list) else [val]:
                if isinstance(item, str) and item:
                    refs.append((f"auto_map[{key!s}]", item))
    pipelines = doc.get("custom_pipelines")
    if isinstance(pipelines, dict):
        for task, spec in pipelines.items():
            if isinstance(spec, dict) and isinstance(spec.get("impl"), str):
                refs.append((f"custom_pipelines[{task!s}]", str(spec["impl"])))
    for how, ref in refs:
        if "--" in ref:
            yield CodeRef(None, ref, rel, how)  # code from another repository
            continue
        module, _, symbol = ref.rpartition(".")
        if module:
            yield CodeRef(_module_file(base, module), symbol, rel, how)


def _model_index_refs(rel: str, doc: dict[str, object], present: set[str]) -> Iterator[CodeRef]:
    base = posixpath.dirname(rel)
    for comp, val in doc.items():
        if not (isinstance(val, list) and len(val) == 2 and all(isinstance(v, str) for v in val)):
            continue
        lib, cls = str(val[0]), str(val[1])
        if lib in _LIBRARIES or not lib:
            continue
        for cand in (_module_file(posixpath.join(base, comp), lib), _module_file(base, lib)):
            if cand in present:
                yield CodeRef(cand, cls, rel, f"model_index.json[{comp}]")
                break
    if posixpath.join(base, "pipeline.py") in present:
        yield CodeRef(posixpath.join(base, "pipeline.py"), None, rel, "custom pipeline")


def _modules_json_refs(rel: str, doc: object, present: set[str]) -> Iterator[CodeRef]:
    base = posixpath.dirname(rel)
    for item in doc if isinstance(doc, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            continue
        module, _, cls = str(item["type"]).rpartition(".")
        sub = str(item.get("path") or "")
        for cand in (_module_file(posixpath.join(base, sub), module), _module_file(base, module)):
            if cand in present:
                yield CodeRef(cand, cls, rel, "modules.json")
                break


def _yaml_refs(rel: str, path: str, present: set[str]) -> Iterator[CodeRef]:
    """Hydra/Lightning targets naming a module of the repository make it reachable."""
    from modelsec.scanner.configs import target_values

    try:
        with open(path, "rb") as fp:
            data = fp.read(_MAX_CONFIG_BYTES + 1)
        text = data.decode("utf-8-sig") if len(data) <= _MAX_CONFIG_BYTES else ""
    except (OSError, UnicodeDecodeError):
        return
    base = posixpath.dirname(rel)
    for value in target_values(text):
        parts = value.split(".")
        for n in range(len(parts) - 1, 0, -1):  # longest module path that is a file
            hit = next(
                (
                    c
                    for d in (base, "")
                    for c in (_module_file(d, ".".join(parts[:n])),)
                    if c in present
                ),
                None,
            )
            if hit is not None:
                yield CodeRef(hit, parts[n], rel, "configuration target")
                break


def code_references(entries: Iterable[Entry]) -> list[CodeRef]:
    """Every reference from a model's configuration files to Python code it loads.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "config.json").write_text('{"auto_map": {"AutoModel": "modeling_x.M"}}')
        >>> [(r.path, r.symbol) for r in code_references([Entry("config.json",
        ...     str(d / "config.json"), "file")])]
        [('modeling_x.py', 'M')]
    """
    files = {e.rel: e.path for e in entries if e.kind == "file"}
    present = set(files)
    out: list[CodeRef] = []
    for rel, path in sorted(files.items()):
        base = posixpath.basename(rel)
        if base in AUTO_MAP_FILES:
            doc = _load_json(path)
            if isinstance(doc, dict):
                out.extend(_auto_map_refs(rel, doc))
        elif base == "model_index.json":
            doc = _load_json(path)
            if isinstance(doc, dict):
                out.extend(_model_index_refs(rel, doc, present))
        elif base == "modules.json":
            out.extend(_modules_json_refs(rel, _load_json(path), present))
        elif base.endswith((".yaml", ".yml")):
            out.extend(_yaml_refs(rel, path, present))
        elif base == "MLmodel":
            code_dir = posixpath.join(posixpath.dirname(rel), "code") + "/"
            code_dir = code_dir.lstrip("/")
            for other in sorted(present):
                if other.startswith(code_dir) and other.endswith(".py"):
                    out.append(CodeRef(other, None, rel, "MLflow code directory"))
    return out


def _import_targets(rel: str, info: ModuleInfo, present: set[str]) -> Iterator[tuple[str, str]]:
    """``(local name, repository file)`` for imports of ``rel`` that name repository files:
    relative imports, and absolute ones whose first part is a file or package beside ``rel``."""
    here = posixpath.dirname(rel)

    def files_for(base: str, dotted: str) -> list[str]:
        stem = posixpath.join(base, dotted.replace(".", "/"))
        return [posixpath.normpath(stem + ".py"), posixpath.normpath(stem + "/__init__.py")]

    for local, (mod, attr, _line) in info.local_imports.items():
        level = len(mod) - len(mod.lstrip("."))
        name = mod[level:]
        base = here
        for _ in range(max(level - 1, 0)):
            base = posixpath.dirname(base)
        cands: list[str] = []
        if attr is not None:  # from .pkg import mod (a module) or from .mod import name
            cands += files_for(base, f"{name}.{attr}" if name else attr)
        if name:
            cands += files_for(base, name)
        for cand in cands:
            if cand in present and cand != rel:
                yield local, cand
                break
    for mod, _line in info.imported_modules:  # also ``from .x import *``
        level = len(mod) - len(mod.lstrip("."))
        base = here
        for _ in range(max(level - 1, 0)):
            base = posixpath.dirname(base)
        for cand in files_for(base, mod[level:]) if mod[level:] else []:
            if cand in present and cand != rel:
                yield "", cand


def analyse_repository(
    root: str, entries: list[Entry], files: list[FileScanData], limits: ScanLimits
) -> None:
    """Add the repository-level findings to ``files`` (same order as ``entries``), in place.

    Example:
        >>> import tempfile, pathlib
        >>> from modelsec.scanner import scan_path
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "config.json").write_text('{"auto_map": {"AutoModel": "other--m.M"}}')
        >>> scan_path(d).files[0].issues_detected[0].threat is None
        True
    """
    if not os.path.isdir(root):
        return
    index = {e.rel: i for i, e in enumerate(entries) if e.kind == "file"}
    paths = {e.rel: e.path for e in entries if e.kind == "file"}
    present = set(paths)
    ctxs: dict[str, FileContext] = {}

    def ctx_for(rel: str) -> FileContext:
        if rel not in ctxs:
            ctxs[rel] = FileContext(rel, limits)
        return ctxs[rel]

    reachable: dict[str, str] = {}  # file -> why
    todo: list[str] = []
    for ref in code_references(entries):
        if ref.path is None:
            ctx_for(ref.referrer).add_issue(
                f"{ref.how} loads code from another repository ({printable(str(ref.symbol))!r}): "
                "it runs with trust_remote_code and was not scanned (fail closed)",
                ref.referrer,
                None,
                printable(str(ref.symbol)),
                ref.how,
            )
        elif ref.path not in present:
            shown = printable(ref.path)
            ctx_for(ref.referrer).add_issue(
                f"{ref.how} names code in {shown!r}, which is not among the scanned files "
                "(missing or filtered out): the code a loader runs was not judged (fail closed)",
                ref.referrer,
                None,
                shown,
                ref.how,
            )
        elif ref.path not in reachable:
            reachable[ref.path] = f"{ref.referrer} {ref.how}"
            todo.append(ref.path)
    parsed: dict[str, ModuleInfo | str] = {}
    while todo:
        rel = todo.pop()
        info = _parse(paths[rel], rel)
        parsed[rel] = info
        if isinstance(info, str):
            continue
        for _local, target in _import_targets(rel, info, present):
            if target not in reachable:
                reachable[target] = f"imported by {rel}"
                todo.append(target)
    _judge_reachable(parsed, reachable, present, ctx_for)
    for rel, ctx in ctxs.items():
        if ctx.issues and rel in index:
            i = index[rel]
            files[i] = _merge(files[i], ctx)


def _parse(path: str, rel: str) -> ModuleInfo | str:
    from modelsec.scanner.loadtime import MAX_SOURCE_BYTES

    try:
        with open(path, "rb") as fp:
            data = fp.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if len(data) > MAX_SOURCE_BYTES:
        return f"larger than {MAX_SOURCE_BYTES} bytes"
    return parse_source(data, rel)


def _judge_reachable(
    parsed: dict[str, ModuleInfo | str],
    reachable: dict[str, str],
    present: set[str],
    ctx_for: Callable[[str], FileContext],
) -> None:
    infos = {rel: info for rel, info in parsed.items() if isinstance(info, ModuleInfo)}
    extra: dict[str, set[str]] = {rel: set() for rel in infos}
    callers: dict[tuple[str, str], str] = {}
    # Fixpoint: functions of other files called from load-time code run at load too.
    for _round in range(_MAX_ROUNDS):
        changed = False
        for rel, info in infos.items():
            fns = info.load_time_functions(tuple(sorted(extra[rel])))
            targets = dict(_import_targets(rel, info, present))
            for local, fn_name in info.cross_file_callees(fns):
                target = targets.get(local)
                if target is None or target not in infos or fn_name in extra[target]:
                    continue
                extra[target].add(fn_name)
                callers.setdefault((target, fn_name), rel)
                changed = True
        if not changed:
            break
    for rel, parsed_info in parsed.items():
        ctx = ctx_for(rel)
        if isinstance(parsed_info, str):
            ctx.add_error(f"{rel}: {parsed_info}; a loader executes it ({reachable[rel]})")
            continue
        base = {s for s, _ in parsed_info.load_time_functions()}
        full = parsed_info.load_time_functions(tuple(sorted(extra[rel])))
        for scope, fn in full:
            if scope in base:
                continue
            caller = callers.get((rel, scope.split(".")[0]), "another file")
            report_calls(
                ctx,
                parsed_info.calls_in(fn, scope),
                rel,
                PY_LOAD,
                "at load",
                f" (called at load from {printable(caller)})",
            )
        scopes = {s for s, _ in full}
        report_calls(
            ctx,
            parsed_info.runtime_calls(scopes),
            rel,
            PY_RUNTIME,
            "when called",
            f" (a loader executes this file: {printable(reachable[rel], 120)})",
        )


def _merge(f: FileScanData, ctx: FileContext) -> FileScanData:
    issues = list(f.issues_detected or [])
    have = {(i.source, i.threat, i.module, i.operator) for i in issues}
    for i in ctx.final_issues():
        if (i.source, i.threat, i.module, i.operator) not in have:
            issues.append(i)
    errors = "; ".join(x for x in [f.error_message, *ctx.errors] if x) or None
    status = f.modelscan_status
    if ctx.errors and status != ModelScanStatus.SCANNED:
        status = ModelScanStatus.ERROR  # code a loader executes could not be judged
    return attrs.evolve(
        f,
        modelscan_status=status,
        issues_detected=issues,
        error_message=errors[:1024] if errors else None,
    )
