"""Helpers shared by the config tests: throwaway keys, loading without the real environment, .env
files written with chosen permissions."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from polyexec.config import ConfigError, Settings, load_settings

__all__ = ["API_SECRET", "FUNDER", "config_error", "load", "throwaway_key", "write_env"]

FUNDER = "0x" + "12" * 20
API_SECRET = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8="  # docs §3.2 test secret


def throwaway_key() -> str:
    """A fresh random private key, never a real one."""
    return "0x" + secrets.token_hex(32)


def load(env: dict[str, str], env_file: Path | None = None) -> Settings:
    """Settings from exactly ``env`` (and ``env_file``), never the process environment or ./.env."""
    return load_settings(env, env_file)


def config_error(env: dict[str, str], env_file: Path | None = None) -> ConfigError:
    """The :class:`ConfigError` loading ``env`` raises; fails the test when it loads."""
    with pytest.raises(ConfigError) as caught:
        load(env, env_file)
    return caught.value


def write_env(directory: Path, text: str, mode: int = 0o600) -> Path:
    """Write ``text`` to ``directory/.env`` with permissions ``mode``."""
    path = directory / ".env"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path
