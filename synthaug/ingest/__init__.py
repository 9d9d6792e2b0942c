"""Document ingest: text out of PDF, HTML, Markdown, plain text and DOCX files, cut into
token-counted chunks that keep their provenance (file, page, character offsets)."""
