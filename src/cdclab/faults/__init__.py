"""Network and process faults that always heal: tagged, timed, swept, and dead-man switched."""
