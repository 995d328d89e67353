"""polyexec's settings: every knob, read from the environment and a ``.env`` file, checked at startup.

Build them with :func:`load_settings`. Each setting is an environment variable whose name is the
upper-cased field name of :class:`Settings` (``CLOB_HOST`` ↔ ``Settings.clob_host``). Where a value
comes from, strongest first:

1. ``env``: the process environment (or the mapping passed to :func:`load_settings`);
2. ``credentials``: for secrets only, a file named after the variable in lower case inside
   ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=polymarket_private_key:/etc/...``);
3. ``.env``: the settings file (``./.env`` unless told otherwise); empty values count as unset;
4. ``preset:<name>``: the strategy preset chosen by ``STRATEGY_PRESET`` (risk limits and
   strategy flags only);
5. ``default``: the value written in :class:`Settings`.

A bad value fails the whole load with :class:`ConfigError`, whose messages name the variable and
what is wrong and never contain a secret. Secrets are :class:`~pydantic.SecretStr`: their
``repr`` and ``str`` are masked, and :meth:`Settings.describe` masks them too.

Real-money trading needs ``LIVE_TRADING=I_UNDERSTAND_THE_RISKS`` exactly (case-sensitive); any
other value, including ``true``, leaves :attr:`Settings.live_trading_allowed` false.

Import everything from here; the modules behind it are:

- :mod:`~polyexec.config.sources`: reading env, credentials and ``.env``; :func:`load_settings`;
- :mod:`~polyexec.config.settings`: the :class:`Settings` model and the values derived from it;
- :mod:`~polyexec.config.checks`: what each single value must look like, and the venue facts;
- :mod:`~polyexec.config.presets`: :data:`PRESETS` and :class:`StrategyFlags`;
- :mod:`~polyexec.config.describe`: the rows and warnings of ``polyexec config``.
"""

from __future__ import annotations

from polyexec.config.checks import (
    KNOWN_ASSETS,
    LIVE_TRADING_CONFIRMATION,
    VENUE_MIN_ORDER_SHARES,
    parse_assets,
    parse_host_port,
    parse_port,
)
from polyexec.config.describe import ConfigRow
from polyexec.config.presets import DEFAULT_STRATEGY_FLAGS, PRESETS, Preset, StrategyFlags
from polyexec.config.settings import SECRET_SETTINGS, Settings
from polyexec.config.sources import DEFAULT_ENV_FILE, ConfigError, load_settings

__all__ = [
    "DEFAULT_ENV_FILE",
    "DEFAULT_STRATEGY_FLAGS",
    "KNOWN_ASSETS",
    "LIVE_TRADING_CONFIRMATION",
    "PRESETS",
    "SECRET_SETTINGS",
    "VENUE_MIN_ORDER_SHARES",
    "ConfigError",
    "ConfigRow",
    "Preset",
    "Settings",
    "StrategyFlags",
    "load_settings",
    "parse_assets",
    "parse_host_port",
    "parse_port",
]
