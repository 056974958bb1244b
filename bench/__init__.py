"""Benchmarks: speed and quality figures live here, not in timed tests. ``python -m bench``."""
