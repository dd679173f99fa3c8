"""Real-world benign corpus tests (marker ``realworld``; cache built by scripts/fetch_realworld.py)."""
