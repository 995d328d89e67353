"""``polyexec test connection|limit|market``: one-shot checks against the venue.

Each check runs a fixed list of steps and prints a checklist, one line per step with PASS or
FAIL, what was seen and how long it took; the exit code is 0 only when every step passed.
A step that cannot run because an earlier one failed is reported as SKIP (and fails the run).
The checks use the same venue adapters as the daemon (:mod:`polyexec.venues`), so passing them
proves the daemon's own code path, not a separate one.
"""
