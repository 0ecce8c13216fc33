"""Settings of a project with tasks and no walnats events or actors: TASKS names WalnatsBackend."""

SECRET_KEY = "tasks-project-test-key"
INSTALLED_APPS = ["django_tasks", "walnats_django", "tests.tasksproject"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
TASKS = {"default": {"BACKEND": "walnats_django.tasks.WalnatsBackend"}}
