"""The HTTP edge: Litestar app factory, one controller per resource, auth, problem details."""
