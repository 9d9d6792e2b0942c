"""``synthaug review``: a local web app where humans review, correct and co-write LLM labels."""
