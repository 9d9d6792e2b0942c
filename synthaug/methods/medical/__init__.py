"""Medicine-domain pipelines of the survey's §3.6: DISC-MedLLM, BianQue, HuatuoGPT,
HuatuoGPT-II, ChatCounselor, UltraMedical (see ``docs/medical.md``)."""
