"""The experiment: a pull request's candidate compared with the model on the base branch.

Baseline, policy, resampling, the comparison, the report, the lock check and the guarded ``dvc repro``.
Imports the ML core; never ``ops`` (import-linter contract in pyproject.toml).
"""
