"""Tests for polyexec.venues.feed_stats: the latency recorder a feed keeps for its hot path.

(The counters and the snapshot are covered with the websocket runner that feeds them, in
test_ws_connection.py.)
"""

from __future__ import annotations

import pytest

from polyexec.venues.feed_stats import LATENCY_SAMPLES, FeedStats


def test_the_latency_recorder_feeds_the_same_percentiles_as_record_latency() -> None:
    stats = FeedStats("market")
    record = stats.latency_recorder()
    for index in range(50):
        record(0.001 * (index + 1))
        stats.record_latency(0.001 * (index + 51))
    latency = stats.latency_ms()
    assert latency is not None
    assert latency[0] == pytest.approx(50.0, abs=1.01)
    assert latency[1] == pytest.approx(99.0, abs=1.01)


def test_the_latency_recorder_keeps_only_the_recent_samples() -> None:
    stats = FeedStats("market")
    record = stats.latency_recorder()
    for _ in range(LATENCY_SAMPLES):
        record(1.0)
    for _ in range(LATENCY_SAMPLES):
        record(0.002)
    assert stats.latency_ms() == pytest.approx((2.0, 2.0))
