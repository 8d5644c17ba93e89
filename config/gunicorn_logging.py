"""Gunicorn's logger with credentials redacted, for ``gunicorn --logger-class``.

Gunicorn writes request paths in its access log (``%(r)s``, ``%(U)s``, headers,
environ) and in its error log ("Error handling request <uri>", "Invalid
request …"); the web process serves ``/announce/<passkey>`` and the personal
web seeds. Its own loggers do not go through Django's LOGGING, so they get the
same filter here.
"""

from gunicorn import glogging

from config.log_redaction import RedactCredentials


class RedactingLogger(glogging.Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        # On the loggers, not their handlers: a configuration reload replaces the
        # handlers, and a --log-config may add its own.
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, RedactCredentials) for existing in log.filters):
                log.addFilter(RedactCredentials())
