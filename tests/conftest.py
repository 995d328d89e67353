"""Shared test configuration."""

from hypothesis import HealthCheck, settings

# CI machines have 2 cores shared with other work: keep hypothesis honest but not flaky on time.
settings.register_profile(
    "polyexec",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("polyexec")
