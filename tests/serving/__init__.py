"""Serving tests: the API, sign-in, saved conversations.

A package, so that its conftest does not shadow tests/conftest.py."""
