"""The test settings as a new project has them: no LOGGING at all (runactors must still talk)."""

from tests.settings import *  # noqa: F403

LOGGING: dict[str, object] = {}
