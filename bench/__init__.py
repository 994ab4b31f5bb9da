"""Benchmarks of the service: `python -m bench` (or `make bench`) runs them all.

Every figure that has a bar is a ratio or a count measured side by side in the same run, so a
noisy 2-core machine moves both sides together; absolute timings are reported, never asserted.
"""
