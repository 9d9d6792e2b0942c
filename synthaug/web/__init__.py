"""What synthaug's local web apps (``review``, ``view``) share: the secured HTTP server."""
