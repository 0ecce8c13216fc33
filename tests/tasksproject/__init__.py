"""A project that uses only Django's Tasks API (`@task`, `enqueue`, `get_result`), run by `runactors`."""
