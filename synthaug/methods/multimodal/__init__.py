"""Multimodal data: chart QA, synthetic scenes and visual instructions, image augmentation."""
