"""The LoRA SFT student on the real SmolLM2-135M weights from the shipped GGUF: a few steps
of training leave checkpoints and adapters, held-out loss is measured before and after, and
a second call resumes from the newest checkpoint instead of starting over (tiny settings:
the CPU trains at seconds per step)."""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest

from synthaug.errors import SynthaugError
from synthaug.students.sft import LoraSFTStudent, SFTConfig, last_checkpoint


def conversations() -> list[dict]:
    path = resources.files("synthaug") / "data" / "self_instruct_seed_tasks.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    short = [
        r for r in rows if not r["instances"][0]["input"] and len(r["instances"][0]["output"]) < 80
    ]
    return [
        {"messages": [{"role": "user", "content": r["instruction"]},
                      {"role": "assistant", "content": r["instances"][0]["output"]}]}
        for r in short
    ]  # fmt: skip


def test_lora_student_trains_checkpoints_and_resumes(tmp_path):
    records = conversations()
    train, held_out = records[:2], records[-2:]
    config = SFTConfig(max_length=64, batch_size=1, max_steps=2, save_steps=1, learning_rate=1e-3)
    student = LoraSFTStudent(config=config)
    encoded = student.encode(train[0])
    learned = [t for t in encoded["labels"] if t != -100]
    assert learned and len(learned) < len(encoded["input_ids"])  # only the answer is learned
    before = student.evaluate(held_out)
    assert before["perplexity"] == math.exp(before["loss"]) and before["tokens"] > 0
    first = student.train(train, tmp_path, seed=0)
    assert first["resumed_from"] is None
    assert last_checkpoint(tmp_path).name == "checkpoint-2"
    assert (tmp_path / "final" / "adapter_config.json").exists()
    losses = [e["loss"] for e in first["log_history"] if "loss" in e]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)
    after = student.evaluate(held_out)
    assert after["tokens"] == before["tokens"] and after["loss"] != before["loss"]
    student.config.max_steps = 3  # one more step: continues from checkpoint-2
    second = student.train(train, tmp_path, seed=0)
    assert second["resumed_from"] == "checkpoint-2"
    steps = [e["step"] for e in second["log_history"] if "loss" in e]
    assert steps[-1] == 3 and last_checkpoint(tmp_path).name == "checkpoint-3"
    with pytest.raises(SynthaugError, match="checkpoints of another training"):
        student.train(held_out, tmp_path, seed=0)  # other records: not resumed from these
    assert last_checkpoint(tmp_path).name == "checkpoint-3"
