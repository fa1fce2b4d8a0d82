"""Helpers over the Kubernetes API: Secrets, events, conditions."""
