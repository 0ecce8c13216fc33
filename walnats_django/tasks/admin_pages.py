"""The admin's task pages, registered: "Task queues" and "Task results" (imported by `walnats_django.admin`
when Django's Tasks framework is installed)."""

from django.contrib import admin

from .. import models
from .admin_queues import TaskQueueAdmin
from .admin_results import TaskResultAdmin

admin.site.register(models.TaskQueue, TaskQueueAdmin)
admin.site.register(models.TaskResult, TaskResultAdmin)
