"""kopf registrations, one module per kind; each handler parses the body and calls the reconcile core."""
