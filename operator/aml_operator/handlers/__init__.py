"""kopf registrations, one module per kind; each handler parses the body and calls the reconcile core."""

from aml_operator.handlers import compute_looks, computes, lifecycle, login, workspace

__all__ = ["compute_looks", "computes", "lifecycle", "login", "workspace"]
