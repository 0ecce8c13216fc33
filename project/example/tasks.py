"""Tasks of the example app (Django's Tasks API on walnats_django.tasks.WalnatsBackend).

    result = count_words.enqueue("one two three")  # from a view, the shell, anywhere
    count_words.get_result(result.id).return_value  # 3, once `runactors` ran it

The results, with the error and traceback of an empty text, are in the admin under "Task results".
"""

from django_tasks import task


@task
def count_words(text: str) -> int:
    """The count-words actor's job as a background task; an empty text fails (and is retried once)."""
    if not text.strip():
        raise ValueError("nothing to count: the text is empty")
    return len(text.split())
