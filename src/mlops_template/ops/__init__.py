"""Operations: serving (BentoML), release, monitoring, and the GitHub glue.

Imports the ML core and the experiment (the monitor scores live traffic with the PR comparison's
statistics); neither imports this (import-linter contract in pyproject.toml).
"""
