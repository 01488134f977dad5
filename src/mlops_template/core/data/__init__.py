"""Data: extraction from the configured source, the one schema, and the split."""
