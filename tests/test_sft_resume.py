"""kill -9 during LoRA training of the embedded SmolLM2-135M: the rerun resumes from the
newest complete checkpoint and ends with the adapters of a training never interrupted (up to
float reduction order, which CPU contention can change: 1e-4 against updates of ~1e-3)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from safetensors.torch import load_file
from test_sft_student import conversations

TRAIN = """
import json, sys
from synthaug.students.sft import LoraSFTStudent, SFTConfig
records = json.load(open(sys.argv[1]))
config = SFTConfig(max_length=64, batch_size=1, max_steps=4, save_steps=1, learning_rate=1e-3)
result = LoraSFTStudent(config=config).train(records, sys.argv[2], seed=0)
print(json.dumps(result["resumed_from"]))
"""


def train(records_path, out, **popen) -> subprocess.Popen:
    command = [sys.executable, "-c", TRAIN, str(records_path), str(out)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, **popen)


def adapters(out) -> dict:
    return load_file(str(out / "final" / "adapter_model.safetensors"))


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path):
    records = tmp_path / "records.json"
    records.write_text(json.dumps(conversations()[:2]))
    killed = tmp_path / "killed"
    running = train(records, killed, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoint-2" / "trainer_state.json").exists():
        assert running.poll() is None, "the training ended before it could be killed"
        assert time.monotonic() < deadline, "no second checkpoint in 300 s"
        time.sleep(0.1)
    os.killpg(running.pid, signal.SIGKILL)
    running.wait()
    assert not (killed / "final").exists(), "the training finished before the kill"
    resumed = train(records, killed)
    stdout, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0
    assert json.loads(stdout.strip().splitlines()[-1]) in ("checkpoint-2", "checkpoint-3")
    whole = train(records, tmp_path / "whole")
    assert whole.wait(timeout=600) == 0
    after_kill, uninterrupted = adapters(killed), adapters(tmp_path / "whole")
    assert after_kill.keys() == uninterrupted.keys() and after_kill
    for name, tensor in uninterrupted.items():  # equal up to float reduction order (CPU load)
        gap = float((after_kill[name] - tensor).abs().max())
        assert gap < 1e-4, f"{name}: differs by {gap}"
