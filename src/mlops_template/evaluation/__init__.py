"""Evaluation: metrics (pure functions) and plots (data files for DVC + PNG images)."""
