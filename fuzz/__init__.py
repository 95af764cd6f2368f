"""Fuzzing harness for uidl-inspector: seeded mutators, per-path targets and a bounded runner.

Not part of the installed package. ``python -m fuzz.run --help`` from the repository root.
"""
