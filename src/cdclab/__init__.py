"""cdclab: reproduce and measure failures of change-data-capture pipelines."""

__version__ = "0.1.0"
