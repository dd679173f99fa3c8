"""What makes a call in model source code a finding: capabilities, secrets, decoders.

The shared table (:func:`~modelsec.scanner.callables.classify_callable`) says whether a callable
is unsafe; :data:`CAPABILITIES` picks which unsafe callables matter in *source code*, where
``os.path.join``, ``getattr`` or ``logging`` are everyday calls rather than pickle gadgets.
"""

from __future__ import annotations

import builtins
import re

__all__ = [
    "BUILTIN_NAMES",
    "CAPABILITIES",
    "DECODERS",
    "FILE_UNPICKLERS",
    "GADGET_MODULES",
    "IMPORTERS",
    "MAX_CALLS_FOLLOWED",
    "MODULE_HOOKS",
    "OPENERS",
    "SECRET_ENV",
    "SECRET_PATHS",
    "WRITE_MODE",
    "capability",
]

#: Dotted prefixes of capabilities that make a call a finding in source code (when the shared
#: table also calls them unsafe), with the category reported.
CAPABILITIES: tuple[tuple[str, str], ...] = (
    ("os.system", "process"),
    ("os.popen", "process"),
    ("os.exec", "process"),
    ("os.spawn", "process"),
    ("os.posix_spawn", "process"),
    ("os.fork", "process"),
    ("os.startfile", "process"),
    ("subprocess", "process"),
    ("_posixsubprocess", "process"),
    ("pty", "process"),
    ("commands", "process"),
    ("popen2", "process"),
    ("platform.popen", "process"),
    ("asyncio.create_subprocess", "process"),
    ("asyncio.subprocess", "process"),
    ("webbrowser", "process"),
    ("ctypes", "native code"),
    ("_ctypes", "native code"),
    ("cffi", "native code"),
    ("socket", "network"),
    ("_socket", "network"),
    ("http.client", "network"),
    ("http.server", "network"),
    ("urllib.request", "network"),
    ("urllib.urlopen", "network"),
    ("urllib.urlretrieve", "network"),
    ("urllib2", "network"),
    ("urllib3", "network"),
    ("requests", "network"),
    ("httpx", "network"),
    ("aiohttp", "network"),
    ("ftplib", "network"),
    ("smtplib", "network"),
    ("telnetlib", "network"),
    ("xmlrpc", "network"),
    ("paramiko", "network"),
    ("socketserver", "network"),
    ("builtins.exec", "dynamic code"),
    ("builtins.eval", "dynamic code"),
    ("builtins.compile", "dynamic code"),
    ("builtins.execfile", "dynamic code"),
    ("runpy", "dynamic code"),
    ("code.", "dynamic code"),
    ("codeop", "dynamic code"),
    ("types.FunctionType", "dynamic code"),
    ("types.CodeType", "dynamic code"),
    ("types.LambdaType", "dynamic code"),
    ("marshal.load", "dynamic code"),
    ("pickle.load", "dynamic code"),
    ("pickle.Unpickler", "dynamic code"),
    ("_pickle.load", "dynamic code"),
    ("dill.load", "dynamic code"),
    ("cloudpickle.load", "dynamic code"),
    ("imp.load_", "dynamic code"),
    ("importlib.machinery", "dynamic code"),
    ("zipimport", "dynamic code"),
    ("pip.main", "package installation"),
    ("pip.__main__", "package installation"),
    ("pip._internal.main", "package installation"),
    ("pip._internal.cli", "package installation"),
    ("pip._internal.commands", "package installation"),
    ("ensurepip", "package installation"),
    ("torch.hub", "remote code"),
    ("shutil.rmtree", "file system write"),
    ("shutil.move", "file system write"),
    ("shutil.chown", "file system write"),
    ("os.remove", "file system write"),
    ("os.unlink", "file system write"),
    ("os.rmdir", "file system write"),
    ("os.removedirs", "file system write"),
    ("os.rename", "file system write"),
    ("os.replace", "file system write"),
    ("os.chmod", "file system write"),
    ("os.chown", "file system write"),
    ("os.symlink", "file system write"),
    ("os.link", "file system write"),
    ("os.truncate", "file system write"),
)

# Module-level functions Python calls by itself: ``getattr(module, "Class")`` on a name the
# module lacks runs its ``__getattr__`` (PEP 562), which is how auto classes are looked up.
MODULE_HOOKS = ("__getattr__", "__dir__")

# Calls that open files, and the argument holding the mode.
OPENERS = {"builtins.open": 1, "io.open": 1, "codecs.open": 1, "os.open": 1}
WRITE_MODE = re.compile(r"[wax+]")

# Imports by computed name: a finding only when the name is not a literal.
IMPORTERS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})

# Decoders that turn an opaque literal into code when fed to a dynamic-code sink.
DECODERS = re.compile(
    r"(^|\.)(b(16|32|64|85)decode|a85decode|b64decode|urlsafe_b64decode|decodebytes|"
    r"unhexlify|a2b_\w+|decompress|fromhex|decode|loads|maketrans|translate)$"
)

# Secrets a model's code has no business reading (files and environment names).
SECRET_PATHS = re.compile(
    r"(\.huggingface/token|huggingface/stored_tokens|\.aws/credentials|\.aws/config|\.netrc|"
    r"\.ssh/|id_rsa|id_ed25519|id_ecdsa|\.git-credentials|\.docker/config\.json|\.kube/config|"
    r"\.pypirc|gcloud/.*credentials|/etc/shadow|/etc/passwd)",
    re.IGNORECASE,
)
SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|CREDENTIAL|ACCESS_KEY)", re.I)

BUILTIN_NAMES = frozenset(dir(builtins))
# Modules whose attribute, chosen at run time, can be exec/eval/system: getattr(m, name).
GADGET_MODULES = frozenset(
    {"builtins", "os", "sys", "importlib", "types", "operator", "posix", "nt", "shutil"}
)
MAX_CALLS_FOLLOWED = 2000


# Prefixes that are stems of a family of names (os.execv, os.spawnlp, pickle.loads...).
STEMS = frozenset(
    {
        "os.exec",
        "os.spawn",
        "os.fork",
        "os.posix_spawn",
        "asyncio.create_subprocess",
        "marshal.load",
        "pickle.load",
        "_pickle.load",
        "dill.load",
        "cloudpickle.load",
        "imp.load_",
        "code.",
    }
)


#: Unpicklers whose ``load(file)`` reads a file (scanned separately when it is in the model).
FILE_UNPICKLERS = frozenset({"pickle", "_pickle", "dill", "cloudpickle", "joblib"})


def capability(dotted: str) -> str | None:
    """The capability category of a resolved dotted call target, or ``None``.

    Example:
        >>> capability("os.execvp"), capability("os.path.join")
        ('process', None)
    """
    for prefix, cat in CAPABILITIES:
        if dotted == prefix or dotted.startswith(prefix + "."):
            return cat
        if prefix in STEMS and dotted.startswith(prefix):
            return cat
    return None
