"""Reports a person can look at: ``synthaug report`` (one self-contained HTML page)."""
