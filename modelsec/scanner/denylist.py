"""Callables a pickle (or a Keras config) must never reach: each is a ``-100`` finding.

A pickle runs whatever callable it names, with arguments it chooses. Anything below gives a
pickle a way to run a process, touch the file system or network, evaluate code, import more
code, or is a *gadget* (getattr, attrgetter, partial, ...) that composes an allowed-looking name
into one of those. Entries are dotted prefixes: ``os`` covers ``os.system`` and
``os.path.join`` alike (a data pickle has no business importing ``os`` at all).
"""

from __future__ import annotations

__all__ = ["DENIED_MODULES", "DENIED_NAMES", "denied_reason"]

#: Whole modules (and their submodules) that are unsafe to import from a pickle.
DENIED_MODULES: dict[str, str] = {
    # Processes and the operating system.
    "os": "operating system access (processes, files)",
    "posix": "operating system access (os under another name)",
    "nt": "operating system access (os under another name)",
    "subprocess": "runs processes",
    "_posixsubprocess": "runs processes",
    "pty": "spawns processes with a terminal",
    "commands": "runs shell commands (Python 2)",
    "popen2": "runs processes (Python 2)",
    "platform": "runs processes (platform.popen)",
    "multiprocessing": "spawns processes",
    "concurrent": "spawns processes and threads",
    "signal": "process signals",
    "resource": "process limits",
    "sys": "interpreter internals (modules, hooks)",
    "gc": "interpreter internals (reach any object)",
    "inspect": "interpreter internals (frames, globals)",
    "ctypes": "native code execution",
    "_ctypes": "native code execution",
    "cffi": "native code execution",
    "mmap": "raw memory and file mapping",
    # Code evaluation and import machinery.
    "code": "evaluates code (interactive interpreter)",
    "codeop": "compiles code",
    "runpy": "runs modules and code objects (runpy._run_code)",
    "importlib": "imports arbitrary code",
    "imp": "imports arbitrary code",
    "pkgutil": "imports arbitrary code (pkgutil.resolve_name)",
    "zipimport": "imports code from archives",
    "types": "builds functions and code objects",
    "marshal": "loads code objects",
    "pickle": "nested unpickling",
    "_pickle": "nested unpickling",
    "cPickle": "nested unpickling (Python 2)",
    "pickletools": "pickle internals",
    "copyreg": "pickle registry manipulation",
    "shelve": "nested unpickling from files",
    "dill": "serialises and rebuilds code (functions, modules)",
    "cloudpickle": "serialises and rebuilds code",
    "joblib.externals.cloudpickle": "serialises and rebuilds code",
    "torch.serialization": "nested model loading (torch.load may unpickle)",
    "torch.hub": "downloads and runs code",
    "torch.jit": "compiles and runs TorchScript",
    "torch.package": "imports packaged code",
    "torch._inductor": "compiles and runs generated code",
    "torch._dynamo": "compiles and runs code",
    "torch.utils.cpp_extension": "compiles and loads native code",
    "torch.utils.collect_env": "runs processes",
    "torch.distributed": "network and remote procedure calls",
    "torch.multiprocessing": "spawns processes",
    "torch._C._jit": "runs TorchScript",
    "torch.fx": "generates and executes Python code",
    "torch.ops": "calls registered native operators by name",
    "numpy.testing": "numpy.testing._private.utils.runstring evaluates code",
    "numpy.f2py": "compiles and runs code",
    "numpy.distutils": "runs build commands",
    "numpy.lib.npyio": "nested loading (numpy.load with pickles)",
    "pip": "installs and runs packages (pip.main)",
    "setuptools": "runs build commands",
    "distutils": "runs build commands",
    "ensurepip": "installs packages",
    "venv": "creates environments and runs processes",
    # Files.
    "io": "opens files",
    "_io": "opens files",
    "shutil": "copies, moves and deletes files",
    "tempfile": "creates files",
    "pathlib": "reads and writes files",
    "glob": "lists files",
    "fileinput": "reads files",
    "linecache": "reads files",
    "zipfile": "reads and writes archives",
    "tarfile": "reads and writes archives",
    "dbm": "opens database files",
    "sqlite3": "opens database files",
    "logging": "writes files (handlers)",
    "bdb": "debugger (runs code)",
    "pdb": "debugger (runs code)",
    "trace": "runs code",
    "profile": "runs code",
    "cProfile": "runs code",
    "timeit": "runs code",
    "doctest": "runs code",
    "unittest": "runs code",
    # Network.
    "socket": "network access",
    "_socket": "network access",
    "ssl": "network access",
    "http": "network access",
    "urllib": "network access",
    "urllib2": "network access (Python 2)",
    "urllib3": "network access",
    "requests": "network access",
    "httpx": "network access",
    "aiohttp": "network access",
    "ftplib": "network access",
    "smtplib": "network access",
    "telnetlib": "network access",
    "xmlrpc": "network access and remote calls",
    "webbrowser": "runs a browser (processes)",
    "asyncio": "processes and network (asyncio.subprocess)",
    "paramiko": "remote shell",
    "socketserver": "network servers",
    # Interpreter escapes in common third-party packages.
    "IPython": "runs shell and Python code",
    "jinja2": "template code execution",
    "yaml": "unsafe YAML loading",
    "keras.utils.get_file": "downloads files",
}

#: Individual callables (exact dotted name, or prefix of a longer attribute chain).
DENIED_NAMES: dict[str, str] = {
    "builtins.eval": "evaluates code",
    "builtins.exec": "executes code",
    "builtins.compile": "compiles code",
    "builtins.execfile": "executes a file (Python 2)",
    "builtins.__import__": "imports arbitrary modules",
    "builtins.open": "opens files",
    "builtins.file": "opens files (Python 2)",
    "builtins.input": "reads the terminal (evaluates in Python 2)",
    "builtins.raw_input": "reads the terminal",
    "builtins.breakpoint": "starts a debugger",
    "builtins.help": "runs a pager process",
    "builtins.exit": "exits the process",
    "builtins.quit": "exits the process",
    "builtins.reload": "re-imports modules",
    "builtins.getattr": "gadget: reaches any attribute of any object",
    "builtins.setattr": "gadget: rewrites attributes (monkey-patching)",
    "builtins.delattr": "gadget: removes attributes",
    "builtins.globals": "gadget: reaches module globals",
    "builtins.locals": "gadget: reaches frame locals",
    "builtins.vars": "gadget: reaches object namespaces",
    "builtins.dir": "gadget: enumerates attributes",
    "builtins.apply": "gadget: calls any callable (Python 2)",
    "builtins.memoryview": "raw memory access",
    "builtins.type": "gadget: builds classes dynamically",
    "builtins.super": "gadget: reaches parent implementations",
    "builtins.classmethod": "gadget: wraps callables",
    "builtins.staticmethod": "gadget: wraps callables",
    "builtins.property": "gadget: wraps callables",
    "builtins.map": "gadget: calls a callable over data",
    "builtins.filter": "gadget: calls a callable over data",
    "builtins.iter": "gadget: calls a callable until a sentinel",
    "builtins.next": "gadget: drives iterators (map/filter) to run calls",
    "builtins.sorted": "gadget: calls a key callable",
    "builtins.max": "gadget: calls a key callable",
    "builtins.min": "gadget: calls a key callable",
    "builtins.print": "writes to files",
    "operator.attrgetter": "gadget: reaches any attribute chain",
    "operator.methodcaller": "gadget: calls any method by name",
    "operator.itemgetter": "gadget: reaches items (module dicts)",
    "operator.call": "gadget: calls any callable",
    "operator.getitem": "gadget: reaches items",
    "operator.setitem": "gadget: rewrites mappings",
    "functools.partial": "gadget: binds arguments to any callable",
    "functools.reduce": "gadget: calls a callable repeatedly",
    "functools.partialmethod": "gadget: binds arguments to any callable",
    "functools.cached_property": "gadget: wraps callables",
    "functools.singledispatch": "gadget: wraps callables",
    "itertools.starmap": "gadget: calls a callable over data",
    "_codecs.lookup": "gadget: loads codec modules",
    "codecs.lookup": "gadget: loads codec modules",
    "codecs.open": "opens files",
    "collections.UserDict.__init__": "gadget",
    "numpy.load": "nested loading (object arrays unpickle)",
    "numpy.loadtxt": "reads files",
    "numpy.fromfile": "reads files",
    "numpy.memmap": "maps files",
    "numpy.save": "writes files",
    "numpy.savez": "writes files",
    "numpy.tofile": "writes files",
    "numpy.ctypeslib": "native code",
    "numpy.lib.utils.runstring": "evaluates code",
    "torch.load": "nested model loading (unpickles)",
    "torch.save": "writes files",
    "torch.storage._load_from_bytes": "nested torch.load of embedded bytes",
    "torch._C._load_for_lite_interpreter": "loads TorchScript",
    "torch._C.import_ir_module": "loads TorchScript",
    "torch.classes": "custom native classes",
    "torch.from_file": "reads files",
    "torch._weights_only_unpickler": "unpickler internals",
    "joblib.load": "nested unpickling",
    "pandas.read_pickle": "nested unpickling",
    "pandas.io.pickle": "nested unpickling",
    "sklearn.utils._testing": "runs code",
    "keras.models.load_model": "nested model loading",
    "tensorflow.io": "file system access",
    "tensorflow.compat.v1.gfile": "file system access",
    "tensorflow.py_function": "runs Python code",
    "tensorflow.numpy_function": "runs Python code",
}


def denied_reason(dotted: str) -> str | None:
    """Why ``dotted`` (``module.name``, canonical spelling) is denied, or ``None``.

    Example:
        >>> denied_reason("os.system")
        'operating system access (processes, files)'
        >>> denied_reason("collections.OrderedDict") is None
        True
    """
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        reason = DENIED_NAMES.get(prefix)
        if reason is not None:
            return reason
        reason = DENIED_MODULES.get(prefix)
        if reason is not None:
            return reason
    return None
