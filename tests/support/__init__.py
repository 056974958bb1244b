"""Helpers for the test suite: server binaries, workers, waiting on conditions, replay."""
