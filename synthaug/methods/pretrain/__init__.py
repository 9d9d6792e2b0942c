"""Pre-training data: synthetic stories, textbooks, rephrased and rewritten documents."""
