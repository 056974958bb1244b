"""Deterministic workflow code only: no I/O, clocks, randomness, threads or provider SDKs."""
