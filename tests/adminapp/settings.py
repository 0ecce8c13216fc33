"""The test settings plus the admin tests' app, for their `runactors` workers."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.adminapp"]  # noqa: F405
