"""Per-user passkeys: the secret in ``/announce/<passkey>`` that opens private releases."""

import secrets

from django.conf import settings
from django.db import IntegrityError, models
from django.utils import timezone

PASSKEY_BYTES = 16  # 32 hex characters


def new_passkey() -> str:
    return secrets.token_hex(PASSKEY_BYTES)


class Passkey(models.Model):
    """One per user, random and unique; regenerating it makes the old one useless at once."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkey")
    key = models.CharField(max_length=2 * PASSKEY_BYTES, unique=True, default=new_passkey)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"passkey of {self.user}"

    @classmethod
    def for_user(cls, user) -> "Passkey":
        """The user's passkey, created on first use."""
        try:
            passkey, _ = cls.objects.get_or_create(user=user)
        except IntegrityError:  # created by a concurrent request (or, once in 2**128, a clash: try again)
            passkey, _ = cls.objects.get_or_create(user=user)
        return passkey

    def regenerate(self) -> None:
        """Replace the key; trackers drop the old one at their next whitelist refresh (seconds)."""
        self.key = new_passkey()
        self.created_at = timezone.now()
        self.save(update_fields=["key", "created_at"])
