"""Structured logging for the daemon: JSON lines to a file and stdout, with every secret redacted.

Call :func:`configure_logging` once at startup, before anything logs, then log with
:func:`get_logger`::

    configure_logging(settings)             # LOG_DIR/polyexec.jsonl + stdout
    log = get_logger(component="feeds")
    log.info("book_snapshot", market=slug, levels=12)

Where lines go:

* ``LOG_DIR/polyexec.jsonl``: one JSON object per line, appended, flushed per line, mode 0600.
* stdout: the same JSON line when stdout is not a terminal (systemd hands it to journald;
  ``journalctl -u polyexec -o cat | jq``). When stdout *is* the journal (``$JOURNAL_STREAM``),
  each line starts with a ``<N>`` syslog priority so ``journalctl -p err`` works. On a terminal,
  readable ``structlog`` console lines instead.

Secrets never reach either sink. The redaction step runs after exceptions are rendered to text
and replaces, case-insensitively, every occurrence of every configured secret (private key with
and without ``0x``, API key, secret, passphrase, the Discord webhook URL and its token, the RPC
URL) anywhere in the event: values, nested dicts/lists, dict keys, exception tracebacks, and
strings that merely contain a secret. Values under sensitive key names (``private_key``,
``secret``, ``passphrase``, ...) are masked even when they are not a known secret. Standard-library
``logging`` records (aiohttp, websockets) are routed through the same pipeline.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TextIO, cast

import orjson
import structlog
from structlog.typing import EventDict, FilteringBoundLogger, WrappedLogger

from polyexec.config import SECRET_SETTINGS, Settings

__all__ = [
    "LOG_FILE_NAME",
    "REDACTED",
    "SecretRedactor",
    "close_logging",
    "configure_logging",
    "failed_log_writes",
    "get_logger",
]

REDACTED: Final = "[REDACTED]"
LOG_FILE_NAME: Final = "polyexec.jsonl"
MIN_SECRET_LENGTH: Final = 4
"""Shorter strings are not treated as secrets: redacting them would shred every log line."""

# Every secret setting's own name, plus the short names code and HTTP headers use for them.
_SENSITIVE_KEYS: Final = frozenset(
    {name.lower() for name in SECRET_SETTINGS}
    | {"private_key", "secret", "api_secret", "passphrase", "poly_passphrase", "webhook_url"}
)
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# syslog priorities journald reads from a "<N>" line prefix (SyslogLevelPrefix=yes, the default)
_JOURNAL_PRIORITY: Final = {"critical": 2, "error": 3, "warning": 4, "info": 6, "debug": 7}
_INT64 = range(-(2**63), 2**63)
_MAX_DEPTH = 32


class SecretRedactor:
    """A structlog processor that removes secrets from an event, however deeply they hide."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._pattern: re.Pattern[str] | None = None
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Replace the set of secrets (empty and very short strings are ignored)."""
        usable = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        # Longest first, so a secret that contains another is replaced whole.
        self._pattern = re.compile("|".join(map(re.escape, usable)), re.IGNORECASE) if usable else None

    def redact_text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def redact(self, value: object, _depth: int = 0) -> object:
        """A JSON-friendly copy of ``value`` with every secret replaced by :data:`REDACTED`."""
        if isinstance(value, str):
            return self.redact_text(value)
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            # orjson refuses integers beyond 64 bits (token ids are 77 digits): write them as text.
            return value if value in _INT64 else str(value)
        if _depth < _MAX_DEPTH and isinstance(value, Mapping):
            return self._redact_mapping(value, _depth + 1)
        if _depth < _MAX_DEPTH and isinstance(value, list | tuple | set | frozenset):
            return [self.redact(item, _depth + 1) for item in value]
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, BaseException):
            return self.redact_text(f"{type(value).__name__}: {value}")
        # Anything else (and containers nested absurdly deep or in a cycle) becomes redacted text.
        return self.redact_text(str(value))

    def _redact_mapping(self, mapping: Mapping[Any, Any], depth: int = 0) -> dict[str, object]:
        cleaned: dict[str, object] = {}
        for key, value in mapping.items():
            name = self.redact_text(str(key))
            sensitive = name.lower() in _SENSITIVE_KEYS and value not in (None, "")
            cleaned[name] = REDACTED if sensitive else self.redact(value, depth)
        return cleaned

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return self._redact_mapping(event_dict)


class _Sinks:
    """Where rendered lines go. One shared instance, updated in place by configure_logging, so
    loggers bound before a reconfiguration write to the new destinations with the new secrets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.file: TextIO | None = None
        self.file_path: Path | None = None
        self.stream: TextIO = sys.stdout
        self.console: structlog.dev.ConsoleRenderer | None = None
        self.journald = False
        self.failed_writes = 0

    def render(
        self, logger: WrappedLogger, method_name: str, event_dict: EventDict
    ) -> tuple[tuple[str, str], dict[str, Any]]:
        """Last processor: the JSON line for the file and the line for stdout."""
        line = orjson.dumps(event_dict, default=str).decode()
        if self.console is not None:
            screen = self.console(logger, method_name, dict(event_dict))
        elif self.journald:
            screen = f"<{_JOURNAL_PRIORITY.get(str(event_dict.get('level')), 6)}>{line}"
        else:
            screen = line
        return (line, screen), {}

    def write(self, line: str, screen: str) -> None:
        # A log line that cannot be written (stdout closed or a broken pipe, a full disk) is
        # counted and dropped: logging must never raise into the code that logs.
        with self.lock:
            if self.file is not None:
                try:
                    self.file.write(line + "\n")
                    self.file.flush()
                except (OSError, ValueError):
                    self.failed_writes += 1
            try:
                self.stream.write(screen + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                self.failed_writes += 1


class _SinkLogger:
    """The wrapped logger structlog calls with the rendered ``(line, screen)`` pair."""

    def __init__(self, sinks: _Sinks) -> None:
        self._sinks = sinks

    def _write(self, line: str, screen: str) -> None:
        self._sinks.write(line, screen)

    debug = info = warning = warn = error = critical = fatal = exception = msg = _write


class _StdlibBridge(logging.Handler):
    """Sends standard-library log records (third-party libraries) through the structlog pipeline,
    so they are redacted and rendered like polyexec's own events."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = min(max(record.levelno // 10 * 10, logging.DEBUG), logging.CRITICAL)
            log = cast(FilteringBoundLogger, structlog.get_logger())
            log.log(level, record.getMessage(), logger=record.name, exc_info=record.exc_info)
        except Exception:
            self.handleError(record)


_redactor = SecretRedactor()
_sinks = _Sinks()
_bridge = _StdlibBridge()
_current: tuple[object, ...] | None = None

_PROCESSORS: Final[list[Any]] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    # Exceptions become text *before* redaction, so a secret inside a traceback is caught.
    structlog.processors.format_exc_info,
    _redactor,
    _sinks.render,
]


def _writes_to_journal(stream: TextIO) -> bool:
    """True when ``stream`` is the journald stream systemd connected ($JOURNAL_STREAM=dev:inode)."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


def _open_log_file(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return open(descriptor, "a", encoding="utf-8")


def configure_logging(
    settings_or_secrets: Settings | Iterable[str],
    *,
    log_dir: Path | None = None,
    level: str | None = None,
    stream: TextIO | None = None,
    console: bool | None = None,
    journald: bool | None = None,
) -> Path | None:
    """Set up structlog (and route stdlib logging into it). Idempotent: calling it again with the
    same arguments changes nothing; with different ones it reconfigures in place.

    ``settings_or_secrets``: the loaded :class:`~polyexec.config.Settings` (its secrets, LOG_DIR
    and LOG_LEVEL are used) or the secret strings to redact. ``log_dir`` overrides LOG_DIR (with
    plain secrets and no ``log_dir`` there is no log file). ``level``: debug, info, warning or
    error. ``stream``: stdout by default. ``console``: readable lines instead of JSON on the
    stream (default: when the stream is a terminal). ``journald``: prefix ``<N>`` priorities
    (default: when the stream is the journal). Returns the log file's path, if any.
    """
    global _current
    if isinstance(settings_or_secrets, Settings):
        secrets = settings_or_secrets.secret_values()
        log_dir = settings_or_secrets.log_dir if log_dir is None else log_dir
        level = settings_or_secrets.log_level if level is None else level
    else:
        secrets = tuple(settings_or_secrets)
    level = (level or "info").lower()
    if level not in _LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)} (got {level!r})")
    out = sys.stdout if stream is None else stream
    use_console = out.isatty() if console is None else console
    use_journald = (not use_console and _writes_to_journal(out)) if journald is None else journald
    file_path = None if log_dir is None else (log_dir / LOG_FILE_NAME).absolute()
    wanted = (tuple(sorted(set(secrets))), file_path, level, id(out), use_console, use_journald)
    if wanted == _current:
        return file_path

    with _sinks.lock:
        _redactor.update(secrets)
        if file_path != _sinks.file_path:
            if _sinks.file is not None:
                _sinks.file.close()
            _sinks.file = None if file_path is None else _open_log_file(file_path)
            _sinks.file_path = file_path
        _sinks.stream = out
        _sinks.console = structlog.dev.ConsoleRenderer(colors=True) if use_console else None
        _sinks.journald = use_journald
    structlog.configure(
        processors=_PROCESSORS,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=lambda *args: _SinkLogger(_sinks),
        context_class=dict,
        # Not cached: a reconfiguration (new level) must reach loggers fetched earlier.
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    if _bridge not in root.handlers:
        root.addHandler(_bridge)
    root.setLevel(_LEVELS[level])
    _current = wanted
    return file_path


def close_logging() -> None:
    """Close the log file and detach from stdlib logging (end of process, tests)."""
    global _current
    with _sinks.lock:
        if _sinks.file is not None:
            _sinks.file.close()
        _sinks.file = None
        _sinks.file_path = None
        _sinks.stream = sys.stdout
        _sinks.console = None
        _sinks.journald = False
    logging.getLogger().removeHandler(_bridge)
    structlog.reset_defaults()
    _current = None


def failed_log_writes() -> int:
    """Log lines that could not be written since start (closed stream, broken pipe, full disk)."""
    return _sinks.failed_writes


def get_logger(**initial_values: object) -> FilteringBoundLogger:
    """A structlog logger; ``initial_values`` are added to every event it logs."""
    return cast(FilteringBoundLogger, structlog.get_logger(**initial_values))
