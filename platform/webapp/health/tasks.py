import socket

from celery import shared_task
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder


@shared_task(ignore_result=False)
def probe() -> dict:
    """Report what this worker sees, so a caller can check it shares the web's database."""
    return {
        "hostname": socket.gethostname(),
        "database": str(connection.settings_dict["NAME"]),
        "migrations": MigrationRecorder(connection).migration_qs.count(),
    }
