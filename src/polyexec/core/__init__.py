"""The pure trading core: models, pricing, order book, order state machine, portfolio, risk.

Nothing in this package does I/O, awaits, reads a file or looks at the wall clock: time is
always a parameter. That is what makes replay, property tests and benchmarks cheap.
"""
