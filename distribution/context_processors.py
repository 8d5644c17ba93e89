"""Template context every page needs."""

from django.http import HttpRequest

from distribution.services import is_publisher


def publisher(request: HttpRequest) -> dict[str, bool]:
    return {"is_publisher": is_publisher(request.user)}
