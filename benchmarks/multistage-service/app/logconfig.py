"""One JSON renderer for structlog and for every stdlib logger: the app's, gunicorn's and
uvicorn's (their error and access logs)."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import structlog

SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def json_formatter() -> logging.Formatter:
    """The formatter of every handler: named in LOGGING (and logging.json) by its path."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
    )


# For logging.config.dictConfig, gunicorn's logconfig_dict and (as logging.json)
# uvicorn's --log-config: the servers' loggers lose their plain-text handlers and
# propagate to the root logger's JSON handler.
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.logconfig.json_formatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                   "formatter": "json"},
    },
    "root": {"level": "INFO", "handlers": ["stdout"]},
    "loggers": {
        name: {"level": "INFO", "handlers": [], "propagate": True}
        for name in ("gunicorn.error", "gunicorn.access",
                     "uvicorn", "uvicorn.error", "uvicorn.access")
    },
}


def configure() -> None:
    """structlog renders through the stdlib handler; stdlib logging as in LOGGING."""
    structlog.configure(
        processors=[*SHARED_PROCESSORS,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(LOGGING)
