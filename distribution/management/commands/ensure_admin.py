"""`manage.py ensure_admin`: make sure an admin login exists and print it.

The generated password is kept in the data directory, so a second run prints
the same login instead of creating another admin.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the admin login on first run and print it with the URL."

    def handle(self, *args, **options):
        password_file = settings.DATA_DIR / "admin-password"
        users = get_user_model().objects
        if not users.filter(username=ADMIN_USERNAME).exists():
            password = secrets.token_urlsafe(12)
            users.create_superuser(ADMIN_USERNAME, email="", password=password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if password_file.exists():
            login = f"{ADMIN_USERNAME} / {password_file.read_text().strip()}"
        else:
            login = f"{ADMIN_USERNAME} (password set outside Fanout)"
        self.stdout.write(f"Fanout: {settings.FANOUT_PUBLIC_URL}/  login: {login}")
