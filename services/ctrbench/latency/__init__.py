"""Latency calculator and result verifier: what the run's report is made of."""
