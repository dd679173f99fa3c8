"""Models in object storage and registries (unit tests; ``-m storage``: real servers)."""
