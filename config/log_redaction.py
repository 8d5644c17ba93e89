"""Credentials out of the logs: the one redaction every Python log path of Fanout goes through.

A passkey or seeder-node credential travels as a URL path segment:
``/announce/<key>``, ``/scrape/<key>``, ``/admitted/<key>`` (seeder nodes) and
``/releases/<id>/webseed/<key>/…``. Anywhere such a path shows in a log line
(a request line, Django's "Not Found: <path>", a scrape URL in a warning, a
traceback), the key is replaced by ``<passkey:…>`` holding the first 8 hex
digits of its SHA-256. That is too little to find the key from, yet lets an
operator tell one client's requests from another's and match a seeder node's
to the digest its credential is stored as (distribution.models.NodeCredential).

``RedactCredentials`` is a logging filter: on a handler (config/settings.py's
LOGGING) it sees every record the handler writes, on a logger only the
records created there (config/gunicorn_logging.py). deploy/nginx.conf does
the same for nginx's access log, without the digest, which nginx cannot take.
"""

import hashlib
import logging
import re

# A slash, or its percent-encoding when the path sits in another URL's query.
_SLASH = r"(?:/|%2F)"
_CREDENTIAL_IN_PATH = re.compile(
    rf"(?P<route>{_SLASH}(?:announce|scrape|admitted|releases{_SLASH}\d+{_SLASH}webseed){_SLASH})"
    # The segment ends where the path does; percent-escapes count as part of it (Django decodes
    # them, so an escaped key opens as the clear one would).
    r"(?P<key>[^/?#&\s\"'<>]+)",
    re.IGNORECASE,
)
# Keys are hex: punctuation after one ends the sentence around the path ("cannot scrape <url>: …").
_SENTENCE_PUNCTUATION = ":,;.)]"
DIGEST_HEX_DIGITS = 8


def _redacted(match: re.Match[str]) -> str:
    key = match["key"].rstrip(_SENTENCE_PUNCTUATION)
    digest = hashlib.sha256(key.encode()).hexdigest()[:DIGEST_HEX_DIGITS]
    return f"{match['route']}<passkey:{digest}>{match['key'][len(key) :]}"


def redact_credentials(text: str) -> str:
    """``text`` with the key of every passkey or credential path in it replaced."""
    return _CREDENTIAL_IN_PATH.sub(_redacted, text)


class RedactCredentials(logging.Filter):
    """Rewrites a record's message, traceback and stack with their credentials redacted; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_credentials(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Formatters keep the text of a traceback here, formatted once; it is ours to redact first.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_credentials(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_credentials(record.stack_info)
        return True
