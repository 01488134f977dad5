"""Serving: the BentoML service (service.py) and its parts (validation, predictor, store, limits, predlog)."""
