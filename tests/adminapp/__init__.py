"""An app for the admin tests (tests/test_admin*.py, tests/browser/): its events and actors are
registered only in the workers started with `tests.adminapp.settings`; the test process adds them
to its registry per test (`bus.ITEMS`)."""
