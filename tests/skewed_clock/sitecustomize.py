"""A host whose clock is off, for `runactors` subprocesses of the tests.

Put this directory first on a subprocess's PYTHONPATH and set WALNATS_TEST_CLOCK_SKEW to a
number of seconds: Python imports `sitecustomize` at start-up, before any other code, and
`time.time()` / `time.time_ns()` then run that far ahead (negative: behind). The code under
test is unchanged; only its view of the wall clock moves (monotonic clocks do not).
"""

import os
import time

_SKEW = float(os.environ.get("WALNATS_TEST_CLOCK_SKEW") or 0)

if _SKEW:
    _time, _time_ns = time.time, time.time_ns

    def _skewed_time() -> float:
        return _time() + _SKEW

    def _skewed_time_ns() -> int:
        return _time_ns() + round(_SKEW * 1_000_000_000)

    time.time = _skewed_time
    time.time_ns = _skewed_time_ns
