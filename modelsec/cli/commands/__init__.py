"""The subcommands of ``modelsec``: ``scan`` and one module for the resource groups."""
