"""The ground floor: what an experiment *is* (spec models, durations, faults as data) and
the rules every layer shares (the journal format, canary outcomes, the silent-failure
detector). Imports nothing of cdclab but errors, paths and YAML: every other package
builds on it, so it can never import them back."""
