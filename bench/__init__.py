"""Benchmarks that print ratios against a baseline measured in the same run.

Absolute times on a shared machine mean little, so every benchmark measures its own baseline
alongside the thing it is about and reports the ratio. Run them with `python -m bench [name …]`.
"""
