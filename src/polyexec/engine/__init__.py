"""The orchestrator: turns feeds, strategies, the risk manager and the venue into a trading daemon.

So far only its pure building blocks exist (no asyncio, no I/O, no clock: time is passed in):

* :mod:`polyexec.engine.engine_state`: the engine's own states (STOPPED, STARTING, RUNNING,
  PAUSED, ERROR, STOPPING), their written transition table and the machine that moves between
  them;
* :mod:`polyexec.engine.window_lifecycle`: the life of each 15-minute window the engine trades
  (upcoming, open, closing, ended, resolved, forgotten) and the actions due at each step.

The I/O parts (tick processor, persistence and reconciliation, heartbeats, kill switch) will
live beside them and drive them.
"""
