"""Finance-domain data (the survey's §3.6): FinQA-style numeric QA over filings."""
