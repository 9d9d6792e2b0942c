"""Instruction-tuning data: synthesis of (instruction, input, output) records."""
