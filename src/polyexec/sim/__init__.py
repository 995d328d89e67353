"""An independent Polymarket CLOB V2 + Binance + Gamma + RTDS simulator on loopback.

This package is **the venue**: it shares no code with ``polyexec.core`` or ``polyexec.venues``
(a bug shared by both sides would hide itself). It may use the same third-party libraries.
"""
