"""Benchmarks of the hedge daemon: `python -m bench` (see bench/README.md)."""
