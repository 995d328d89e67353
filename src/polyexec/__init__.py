"""polyexec: a 24/7 asyncio execution daemon for Polymarket's 15-minute crypto Up/Down markets."""

__version__ = "0.1.0"
