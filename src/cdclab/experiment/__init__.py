"""Experiments: a validated spec, the run clock, the journals and the results directory."""
