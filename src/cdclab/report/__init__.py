"""Reports: numbers from the journals alone, a verdict with its statistics, plots."""
