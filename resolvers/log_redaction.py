"""Keeps credentials out of the logs: access tokens in query strings (the progress WebSocket's `?token=`),
bearer tokens and JWTs anywhere in a line, and the values of stored secrets, all become `***`.

`RedactingFilter` is installed on every handler that writes our logs and uvicorn's (see `app.py`). The
secret values it knows are process-wide, because logging is: every value this process has decrypted or
been given is registered in `KNOWN_SECRETS`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from resolvers.secret_masking import MASK, Masker

_TOKEN_PARAMETER = re.compile(
    r"(?i)([?&;](?:token|access_token|accesstoken|refresh_token|refreshtoken|id_token|jwt)=)[^&;\s\"'#]*"
)
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_PLAIN = (int, float, bool, type(None))
"""Log arguments left as they are (a `%d` needs a number); any other object is redacted as text."""


class SecretValues:
    """The secret values this process knows, as one masker that grows as values are registered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._masker = Masker(())

    def register(self, values: Iterable[str]) -> None:
        with self._lock:
            before = len(self._values)
            self._values.update(values)
            if len(self._values) != before:
                self._masker = Masker(self._values)

    def mask(self, text: str) -> str:
        return self._masker.mask(text)


KNOWN_SECRETS = SecretValues()


def redact(text: str) -> str:
    """`text` with tokens and known secret values replaced by `***`."""
    text = _TOKEN_PARAMETER.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    text = _JWT.sub(MASK, text)
    return KNOWN_SECRETS.mask(text)


def _redact_argument(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, _PLAIN):
        return value
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, arguments and traceback before any handler formats it.

    Arguments keep their positions (uvicorn's access formatter unpacks them), strings are redacted in
    place, and a traceback is formatted here once so that its text can be redacted too."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _redact_argument(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redact_argument(value) for value in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
        return True


def install(handlers: Iterable[logging.Handler]) -> None:
    """Put the filter on each handler (once)."""
    for handler in handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())


def uvicorn_log_config(base: Mapping[str, Any]) -> dict[str, Any]:
    """uvicorn's logging configuration with the filter on each of its handlers."""
    config = {key: value for key, value in base.items() if key != "handlers"}
    config["filters"] = {**base.get("filters", {}), "redact": {"()": RedactingFilter}}
    config["handlers"] = {
        name: {**handler, "filters": [*handler.get("filters", []), "redact"]}
        for name, handler in base.get("handlers", {}).items()
    }
    return config
