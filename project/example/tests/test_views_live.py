"""`test_views.py`'s tests again, live: a real nats-server and worker behind `walnats_bus`
(what `pytest --walnats-live` does for every test)."""

import pytest

from .test_views import (
    test_bad_input_sends_nothing,
    test_count_words,
    test_count_words_from_a_sync_view,
    test_count_words_with_the_async_client,
    test_sign_up,
)

pytestmark = pytest.mark.walnats(live=True)

__all__ = [
    "test_bad_input_sends_nothing",
    "test_count_words",
    "test_count_words_from_a_sync_view",
    "test_count_words_with_the_async_client",
    "test_sign_up",
]
