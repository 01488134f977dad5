"""GitOps ML template: data -> features -> model -> evaluation -> serving -> monitoring."""

__version__ = "0.1.0"
