"""The ``modelsec`` command: gate models in CI, manage the service, try it all offline.

Examples::

    modelsec demo                                   # offline: emulator + two models + verdicts
    modelsec scan ./models/bert hf://org/model      # exit 0 allowed, 1 blocked, 2 error
    modelsec scan --offline ./models/bert --format sarif --output scan.sarif
    modelsec scans list --outcome BLOCKED --limit 10
    modelsec groups list --format json

The entry point is :func:`main` (``modelsec = "modelsec.cli:main"``).
"""

from modelsec.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
