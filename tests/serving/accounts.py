"""The test server's secrets (made up for the tests)."""

USER_KEY = "test-user-key-0123456789"
ADMIN_KEY = "test-admin-key-0123456789"
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}
