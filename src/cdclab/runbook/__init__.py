"""Runbook steps for on-call use: status, restart, pause/resume, config, logs of a connector,
on the lab, on an AWS run's instance, or on any Connect cluster given by URL."""
