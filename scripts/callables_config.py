"""Inputs of scripts/gen_callables.py: sinks, analysed packages, modules never imported.

Kept apart from the generator so a reviewer reads the policy without the machinery.
"""

from __future__ import annotations

import importlib
import io
import sys
import types
import warnings

#: Longest call chain (edges) from a callable to a sink that still denies it.
DEPTH = 6

#: Sinks by category: (module, dotted attribute). Missing ones (other platform) are skipped.
SINKS: dict[str, list[tuple[str, str]]] = {
    "process": [
        ("os", "system"),
        *(("os", n) for n in ("execv", "execve", "fork", "forkpty", "posix_spawn")),
        *(("os", n) for n in ("posix_spawnp", "kill", "killpg", "startfile")),
        ("subprocess", "Popen"),
        ("_posixsubprocess", "fork_exec"),
        ("multiprocessing.process", "BaseProcess.start"),
    ],
    "code": [
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "compile"),
    ],
    "import": [
        ("builtins", "__import__"),
        ("importlib", "import_module"),
        ("importlib", "__import__"),
        ("importlib", "reload"),
        ("importlib._bootstrap", "_gcd_import"),
        ("importlib.util", "spec_from_file_location"),
        ("importlib.util", "module_from_spec"),
        ("zipimport", "zipimporter"),
    ],
    "file": [
        ("builtins", "open"),
        ("io", "open"),
        ("io", "open_code"),
        ("io", "FileIO"),
        *(("os", n) for n in ("open", "remove", "unlink", "rmdir", "rename", "replace")),
        *(("os", n) for n in ("mkdir", "chmod", "chown", "lchown", "symlink", "link")),
        *(("os", n) for n in ("truncate", "utime", "mkfifo", "mknod")),
        ("numpy", "fromfile"),
        ("numpy", "ndarray.tofile"),
        ("numpy", "ndarray.dump"),
        ("torch", "from_file"),
        ("xgboost.core", "Booster.load_model"),
        ("xgboost.core", "Booster.save_model"),
    ],
    "network": [
        ("socket", "socket"),
        ("socket", "create_connection"),
        ("socket", "getaddrinfo"),
        ("_socket", "socket"),
        ("urllib.request", "urlopen"),
        ("http.client", "HTTPConnection"),
    ],
    "deserialize": [
        ("pickle", "load"),
        ("pickle", "loads"),
        ("pickle", "Unpickler"),
        ("_pickle", "load"),
        ("_pickle", "loads"),
        ("_pickle", "Unpickler"),
        ("marshal", "load"),
        ("marshal", "loads"),
    ],
    "native": [
        ("ctypes", "CDLL"),
        ("ctypes", "PyDLL"),
        ("ctypes", "LibraryLoader"),
        ("ctypes", "cast"),
        ("ctypes", "memmove"),
        ("ctypes", "memset"),
        ("ctypes", "string_at"),
        ("_ctypes", "dlopen"),
    ],
}

#: Top-level packages analysed besides the standard library (see callables_requirements.txt).
PACKAGES = [
    "numpy",
    "scipy",
    "pandas",
    "sklearn",
    "joblib",
    "torch",
    "xgboost",
    "lightgbm",
    "sympy",
    "omegaconf",
    "hydra",
    "huggingface_hub",
    "gensim",
]

#: Distribution names of PACKAGES, for the recorded versions.
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "hydra": "hydra-core",
}

#: Modules never imported by the generator: importing them has effects (a browser, a GUI, the
#: Zen), needs hardware or other platforms, or drags in optional dependencies we do not pin.
#: Names below that the hand-written deny list covers as whole modules need no derivation.
SKIP_PREFIXES = (
    "antigravity",
    "this",
    "idlelib",
    "tkinter",
    "turtle",
    "turtledemo",
    "test",
    "lib2to3",
    "ensurepip",
    "venv",
    "pydoc_data",
    "__main__",
    "__phello__",
    "__hello__",
    "_pydev",
    "distutils",
    "setuptools",
    "pip",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.testing",
    "numpy._pyinstaller",
    "scipy._lib.array_api_compat",
    "torch._inductor",
    "torch._dynamo",
    "torch.distributed",
    "torch.testing",
    "torch.utils.tensorboard",
    "torch.utils.benchmark",
    "torch.utils.bottleneck",
    "torch.onnx",
    "torch._export",
    "torch.export",
    "torch.compiler",
    "torch._functorch",
    "torch.contrib",
    "torch.backends._coreml",
    "torch.ao.quantization.quantizer",
    "torch._numpy",
    "torch.utils.hipify",
    "torch.cuda",
    "torch.mtia",
    "torch.xpu",
    "torch.mps",
    "torch._lazy",
    "torch.package",
    "torch.jit",
    "torch.fx",
    "torch.utils.data.datapipes",
    "xgboost.spark",
    "xgboost.dask",
    "xgboost.testing",
    "lightgbm.dask",
    "sklearn.externals",
    "hydra.test_utils",
    "huggingface_hub.inference",
    "huggingface_hub.cli",
    "huggingface_hub.commands",
    "sympy.plotting",
    "sympy.galgebra",
)

#: Module-name parts that mark test suites and entry points (never imported).
SKIP_PARTS = {"tests", "test", "testing", "__main__", "conftest", "_testing", "benchmarks"}

#: Windows-only or hardware modules of the standard library that fail or do nothing here.
SKIP_STDLIB = {"msilib", "winreg", "winsound", "_winapi", "msvcrt", "nt", "_msi", "_overlapped"}

#: Pickle-facing methods a class runs at load: calling it (REDUCE), NEWOBJ, BUILD, SETITEMS,
#: APPENDS.
RECONSTRUCTION = (
    "__new__",
    "__init__",
    "__setstate__",
    "__setattr__",
    "__setitem__",
    "append",
    "extend",
    "add",
)


def skipped(name: str) -> bool:
    if name in SKIP_STDLIB:
        return True
    if any(name == p or name.startswith(p + ".") for p in SKIP_PREFIXES):
        return True
    return bool(SKIP_PARTS.intersection(name.split(".")[1:])) or name.startswith("test_")


def try_import(name: str) -> types.ModuleType | None:
    if skipped(name):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved_out, saved_err = sys.stdout, sys.stderr
            sys.stdout = sys.stderr = io.StringIO()
            try:
                return importlib.import_module(name)
            finally:
                sys.stdout, sys.stderr = saved_out, saved_err
    except BaseException:
        return None
