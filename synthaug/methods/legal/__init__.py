"""Legal-domain data (the survey's §3.6): DISC-LawLLM, Lawyer LLaMA, LawGPT / WisdomInterrogatory."""
