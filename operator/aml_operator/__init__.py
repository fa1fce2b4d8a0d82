"""Kubernetes operator for Azure Machine Learning compute targets."""

__version__ = "0.1.0"
