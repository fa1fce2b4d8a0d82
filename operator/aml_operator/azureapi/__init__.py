"""The only package that imports ``azure.*``: clients, credentials, error table, rate limiting."""
