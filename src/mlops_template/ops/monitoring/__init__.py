"""Drift monitoring of served traffic: the reference profile of the training data (DVC stage
``profile``), the drift statistics, the prediction-log window, and the report (``make monitor``)."""
