"""Reports read what sharing grants: the same frozen morning, people and share factories as the
sharing tests, taken from there rather than copied."""

from tests.sharing.conftest import (  # noqa: F401  (fixtures and helpers of this folder's tests)
    DEFAULT_SCOPES, NOW, access_log, alice, bob, carol, clock, create_invite, create_share, database_text,
)
