"""``python -m modelsec``: the same as the ``modelsec`` command."""

from modelsec.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
