"""Settings of the metrics and tracing tests' workers: the test settings plus tests.observeapp."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.observeapp"]  # noqa: F405
