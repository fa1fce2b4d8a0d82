"""Framework-free reconcile logic per kind: observe, plan, act, status."""
