"""`invoke bench`: cdclab's own speed and footprint, measured on the local lab."""
