"""Where settings come from: the environment, systemd credentials and the ``.env`` file.

:func:`load_settings` reads every source, merges them (the stronger source wins, see
:mod:`polyexec.config`), remembers which source gave each value (``polyexec config`` shows it),
and validates the result into :class:`~polyexec.config.Settings`. Every problem found becomes
one line of :class:`ConfigError`, with anything that looks like a secret scrubbed out.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError
from pydantic_settings import DotEnvSettingsSource

from polyexec.config.settings import SECRET_SETTINGS, Settings

__all__ = ["DEFAULT_ENV_FILE", "ConfigError", "load_settings"]

DEFAULT_ENV_FILE: Final = Path(".env")

_ENV_NAMES: Final = {field.upper(): field for field in Settings.model_fields}
_KEY_LIKE = re.compile(r"(0x)?[0-9a-fA-F]{64}")


class ConfigError(Exception):
    """The settings are unusable. :attr:`messages` are for the operator, one problem each."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages: tuple[str, ...] = tuple(messages)
        super().__init__("\n".join(self.messages))


def load_settings(env: Mapping[str, str] | None = None, env_file: Path | None = DEFAULT_ENV_FILE) -> Settings:
    """Read, merge and validate every setting.

    ``env`` is the environment to read (``os.environ`` when ``None``); ``env_file`` the settings
    file (``./.env`` by default; a missing file is skipped; ``None`` reads no file). Raises
    :class:`ConfigError` listing every problem found.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    warnings: list[str] = []
    layers: list[tuple[str, Mapping[str, str]]] = []
    if env_file is not None:
        file_values, file_warnings = _read_env_file(env_file)
        warnings.extend(file_warnings)
        layers.append((".env", file_values))
    layers.append(("credentials", _read_credentials(environ)))
    layers.append(("env", {key.upper(): value.strip() for key, value in environ.items() if value.strip()}))
    for source, values in layers:  # weakest first: later layers overwrite earlier ones
        for name, value in values.items():
            if name in _ENV_NAMES:
                raw[name] = value
                sources[name] = source
    try:
        settings = Settings(**{_ENV_NAMES[name]: value for name, value in raw.items()})
    except ValidationError as exc:
        raise ConfigError(_messages(exc, raw)) from None
    # Provenance is not a setting: it lives in private attributes that only this loader fills.
    settings._sources = sources
    settings._load_warnings = tuple(warnings)
    return settings


def _read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Values and warnings from a ``.env`` file; a missing file gives nothing."""
    if not path.is_file():
        return {}, []
    try:
        entries = DotEnvSettingsSource(Settings, env_file=path, case_sensitive=False, env_ignore_empty=True)
    except (OSError, ValueError) as exc:  # unreadable, or not UTF-8 text
        raise ConfigError([f"{path}: cannot read the settings file ({exc})"]) from None
    values: dict[str, str] = {}
    warnings: list[str] = []
    for key, value in entries.env_vars.items():
        if value is None or not value.strip():
            continue
        if key.upper() not in _ENV_NAMES:
            warnings.append(f"{path} sets {key.upper()}, which polyexec does not know (a typo?)")
            continue
        values[key.upper()] = value.strip()
    holds_secret = any(name in values for name in SECRET_SETTINGS)
    if holds_secret and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"{path} holds secrets but other users may read it: chmod 600 {path}")
    return values, warnings


def _read_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """Secrets from systemd credentials: ``$CREDENTIALS_DIRECTORY/<variable in lower case>``."""
    directory = environ.get("CREDENTIALS_DIRECTORY", "").strip()
    if not directory:
        return {}
    values: dict[str, str] = {}
    for name in SECRET_SETTINGS:
        path = Path(directory) / name.lower()
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{name}: cannot read the credential file {path} ({exc})"]) from None
        if text:
            values[name] = text
    return values


def _messages(error: ValidationError, raw: Mapping[str, Any]) -> list[str]:
    """One ``VARIABLE: problem (got 'value')`` line per validation error; a secret's value is
    never shown, and anything that looks like one is scrubbed from the rest."""
    messages: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        if not item["loc"]:
            messages.extend(_scrub(line, raw) for line in str(item["msg"]).split("\n"))
            continue
        name = str(item["loc"][0]).upper()
        message = f"{name}: {item['msg']}"
        if name not in SECRET_SETTINGS and name in raw:
            shown = _scrub(str(raw[name]), raw)  # before truncating: a cut key would not match
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            message += f" (got {shown!r})"
        messages.append(_scrub(message, raw))
    return messages


def _scrub(message: str, raw: Mapping[str, Any]) -> str:
    """Hide anything in ``message`` that could be a secret pasted into the wrong variable."""
    for name in SECRET_SETTINGS:
        secret = str(raw.get(name, ""))
        if len(secret) >= 4:
            message = message.replace(secret, "[secret]")
    return _KEY_LIKE.sub("[hidden: looks like a private key]", message)
