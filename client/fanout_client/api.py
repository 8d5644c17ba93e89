"""The Fanout server over HTTP: its REST API and pages, signed with the API token.

Every failure becomes a FanoutError whose message is what the server said
(its ``detail``, or each field's complaint), so a CI log shows it on one line.
"""

from typing import Any
from urllib.parse import urljoin

import requests

from fanout_client import __version__
from fanout_client.errors import FanoutError

# Seconds to connect, and to wait for each read of an answer.
TIMEOUT = (10, 60)


class Server:
    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"fanout/{__version__}"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        """A full URL: ours are relative to the base URL ("api/releases/"), the server's own
        links absolute paths or URLs ("/api/releases/7/finish/")."""
        return urljoin(self.base_url, path)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The answer to a request; a FanoutError for an error status or an unreachable server."""
        url = self.url(path)
        try:
            response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise ServerUnreachable(f"Cannot reach {self.base_url}: {unreachable_reason(exc)}") from None
        if response.status_code >= 400:
            raise ServerRefused(response)
        return response

    def get_json(self, path: str, **params: str) -> Any:
        return self.request("GET", path, params=params or None).json()

    def post_json(self, path: str, body: dict | None = None) -> Any:
        return self.request("POST", path, json=body).json()

    def get_bytes(self, path: str) -> bytes:
        return self.request("GET", path).content


class ServerUnreachable(FanoutError):
    """No answer: the server is down, or the network between."""


class ServerRefused(FanoutError):
    """The server answered with an error status; the message says the status and why."""

    def __init__(self, response: requests.Response) -> None:
        self.status = response.status_code
        super().__init__(f"{response.status_code} {response.reason}: {explanation(response)}")


def explanation(response: requests.Response) -> str:
    """What the server gave as the reason: DRF's ``detail``, each field's errors, or its text."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return text[:300] or "(no explanation given)"
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        return "; ".join(f"{field}: {_joined(problems)}" for field, problems in body.items())
    return _joined(body)


def _joined(problems: Any) -> str:
    if isinstance(problems, list):
        return " ".join(_joined(p) for p in problems)
    if isinstance(problems, dict):
        return "; ".join(f"{key}: {_joined(value)}" for key, value in problems.items())
    return str(problems)


def unreachable_reason(exc: requests.RequestException) -> str:
    """The innermost reason of a connection failure, e.g. "Connection refused"."""
    reason: BaseException | None = exc
    while reason is not None:
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror
        reason = reason.__cause__ or reason.__context__
    return type(exc).__name__
