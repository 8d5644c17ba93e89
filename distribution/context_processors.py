"""Template context every page needs."""

from django.conf import settings
from django.http import HttpRequest

from distribution.access import may_publish


def publisher(request: HttpRequest) -> dict[str, bool]:
    return {"is_publisher": may_publish(request.user)}


def sign_in(request: HttpRequest) -> dict[str, object]:
    """Whether to offer "Forgot your password?" (only where mail can be sent), and how long a
    sign-in stays paused after too many failures."""
    return {
        "password_reset_by_email": settings.PASSWORD_RESET_BY_EMAIL,
        "login_lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
