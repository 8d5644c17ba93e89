"""The Celery application: `celery -A config worker` / `celery -A config beat`."""

import os
from pathlib import Path
from urllib.parse import urlsplit

from celery import Celery
from celery.app.utils import Settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("fanout")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def make_broker_folders(sender: Celery, source: Settings, **kwargs) -> None:
    """The filesystem broker's folders, which kombu writes into but never makes.

    Called when this process first reads Celery's configuration: a worker or
    beat starting, a task queued. Never at import.
    """
    if urlsplit(source.broker_url).scheme != "filesystem":
        return
    options = source.broker_transport_options
    for folder in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        Path(options[folder]).mkdir(parents=True, exist_ok=True)
