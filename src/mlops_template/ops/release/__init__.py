"""Release: MLflow model registry (champion alias, rollback), image tags, deploy target, container smoke test.

Pure decisions live in :mod:`plan`; MLflow calls in :mod:`registry`; HTTP checks in :mod:`smoke`;
:mod:`commands` wires them for the Make targets (``mlops release <command>``).
"""
