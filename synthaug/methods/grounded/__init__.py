"""Grounded synthesis: documents in (ingest), retrieval over their chunks; the methods that
write data grounded in them (content-grounded QA, RAFT, RankRAG, ...) build on these steps."""
