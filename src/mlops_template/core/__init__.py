"""The ML core: the part of the project a team edits.

config (params.yaml), data (extract, schema, column kinds, split), features, model, metrics, plots, the
model card, tracking, lineage and the DVC stages. It imports nothing from ``experiment`` or ``ops``
(an import-linter contract in pyproject.toml, checked by ``make lint``).
"""
