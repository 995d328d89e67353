"""Strategies: pure functions of market state that propose orders (never send them).

:mod:`polyexec.strategies.context` is the contract (what a strategy sees, what it returns);
each strategy is one module. No I/O, no asyncio, no clock: time comes in the context.
"""
