"""Classical and knowledge-based data augmentation methods (EDA, KG triples to text, paraphrase)."""
