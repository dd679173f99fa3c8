"""Tests of the ``modelsec`` command."""
