"""App review beyond one client: platforms, following, endpoint kinds."""
