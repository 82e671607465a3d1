"""Reporters see only results: console table, JSON, JUnit XML."""
