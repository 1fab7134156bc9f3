"""The test users (tests/users.py) for the permission tests."""

from tests.users import alice, bob, team_base, users_python  # noqa: F401 - fixtures
