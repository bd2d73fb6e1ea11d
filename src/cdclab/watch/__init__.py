"""`invoke watch`: the experiment engine's canary and silent-failure detector, pointed at a
deployment that must keep working, with alarms and an optional automatic restart."""
