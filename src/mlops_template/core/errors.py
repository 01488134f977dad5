"""Expected failures with messages meant for people (kept import-light: every stage loads this)."""


class DataSourceError(RuntimeError):
    """The data source cannot be found, opened or parsed."""


class StageFailed(RuntimeError):
    """A stage found a problem it has already reported in full."""
