"""Step code the method families share (registers no step): a family never imports another."""
