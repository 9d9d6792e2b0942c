"""``synthaug view FILE``: a read-only viewer of large data files in the browser."""
