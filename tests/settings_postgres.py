"""Settings of tests/test_outbox_postgres.py's `relayoutbox` subprocesses: the test settings plus a
"postgres" database, the server that test started (its URL in WALNATS_TEST_POSTGRES_URL)."""

from tests.settings import *  # noqa: F403

DATABASES["postgres"] = env.db_url("WALNATS_TEST_POSTGRES_URL")  # noqa: F405
