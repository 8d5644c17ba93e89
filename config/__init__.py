from config.data_dir import restrict_new_files

# First thing in every process (manage.py and its commands, gunicorn, celery): nothing it makes
# in the data directory is for other users.
restrict_new_files()

from config.celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
