"""Events and actors of the metrics and tracing tests, run by workers with tests.settings_observe."""
