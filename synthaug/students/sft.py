"""A LoRA SFT student: the embedded SmolLM2-135M-Instruct fine-tuned on ``messages`` records.

The weights come from the shipped GGUF (transformers' GGUF loading dequantises the Q4_1
tensors to float32, then the model's quantized marks are cleared so the Trainer trains it; the tokenizer and chat template come from the same file), LoRA adapters
from ``peft`` (rank 8, α 16, dropout 0.05 on the attention projections: common defaults, not
a paper's), training from transformers' ``Trainer`` on the CPU. Only the last (assistant)
turn of each record is learned: the tokens of the turns before it are masked. Seeds fix the
adapters' initialisation and the data order. Checkpoints go to ``out_dir/checkpoint-N``
every ``save_steps`` steps; ``train`` resumes from the newest complete one (its
``trainer_state.json`` is written last), so a run killed with kill -9 continues where it
stopped; ``out_dir/training.json`` names the records, seed, model and settings the
checkpoints belong to, and another training refuses them (only the step count may grow). ``evaluate`` gives the mean loss per learned token on held-out records and its
perplexity. Needs the ``sft`` extra (torch, transformers, gguf, peft).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailable, SynthaugError
from ..hashing import stable_hash
from ..io.writers import write_text_atomic

IGNORE = -100  # label of a token that is not learned
MARKER = "training.json"  # in out_dir: what the checkpoints there were trained on
EXTENDABLE = ("epochs", "max_steps", "save_steps")  # a resumed training may change these


def _libraries() -> tuple[Any, Any, Any]:
    try:
        import peft
        import torch
        import transformers
    except ImportError as exc:
        raise BackendUnavailable(
            "the LoRA SFT student needs the sft extra: pip install 'synthaug[sft]'"
        ) from exc
    return torch, transformers, peft


def last_checkpoint(out_dir: Path) -> Path | None:
    """The newest ``checkpoint-N`` in ``out_dir`` whose trainer state was written."""
    done = [p for p in out_dir.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


@dataclass
class SFTConfig:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    learning_rate: float = 2e-4
    epochs: float = 1.0
    batch_size: int = 4
    max_length: int = 256
    save_steps: int = 10
    max_steps: int = -1  # -1: the epochs decide


class LoraSFTStudent:
    """Loads the base model once; ``train`` fits LoRA adapters, ``evaluate`` scores records."""

    def __init__(self, model_path: str | Path | None = None, config: SFTConfig | None = None):
        torch, transformers, _ = _libraries()
        if model_path is None:
            from ..llm.local import default_model_path

            model_path = default_model_path()
        path = Path(model_path)
        self.model_name = path.name
        self.config = config or SFTConfig()
        folder, name = str(path.parent), path.name
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
        self.base = transformers.AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.float32
        )
        # the weights are dequantised to float32, but the GGUF loader leaves the model marked
        # as quantized, which the Trainer refuses to train: clear the marks
        self.base.hf_quantizer, self.base.is_quantized = None, False
        self.base.config.quantization_config = None
        self.model: Any = self.base

    def encode(self, record: dict[str, Any]) -> dict[str, list[int]]:
        """Token ids of the conversation; labels only on the last turn (the answer)."""
        messages = record["messages"]
        full = self.tokenizer.apply_chat_template(messages, tokenize=False)
        prompt = self.tokenizer.apply_chat_template(
            messages[:-1], tokenize=False, add_generation_prompt=True
        )
        ids = self.tokenizer(full, add_special_tokens=False)["input_ids"]
        known = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        ids = ids[: self.config.max_length]
        labels = [IGNORE] * min(known, len(ids)) + ids[known:]
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

    def train(
        self, records: Sequence[dict[str, Any]], out_dir: str | Path, seed: int = 0
    ) -> dict[str, Any]:
        """Fit LoRA adapters on ``records`` (resuming from ``out_dir``'s last checkpoint);
        the adapters are saved to ``out_dir/final``. Returns the trainer's log history."""
        _, transformers, peft = _libraries()
        c, out = self.config, Path(out_dir)
        if isinstance(self.model, peft.PeftModel):  # trained before: start from the base again
            self.base = self.model.unload()
        transformers.set_seed(seed)  # the adapters' initialisation
        lora = peft.LoraConfig(r=c.rank, lora_alpha=c.alpha, lora_dropout=c.dropout,
                               target_modules=list(c.target_modules), task_type="CAUSAL_LM")  # fmt: skip
        self.model = peft.get_peft_model(self.base, lora)
        args = transformers.TrainingArguments(
            output_dir=str(out), per_device_train_batch_size=c.batch_size,
            num_train_epochs=c.epochs, max_steps=c.max_steps, learning_rate=c.learning_rate,
            seed=seed, data_seed=seed, save_strategy="steps", save_steps=c.save_steps,
            save_total_limit=2, logging_steps=1, report_to=[], use_cpu=True,
            disable_tqdm=True, dataloader_num_workers=0,
        )  # fmt: skip
        collator = transformers.DataCollatorForSeq2Seq(
            self.tokenizer, label_pad_token_id=IGNORE, padding=True
        )
        trainer = transformers.Trainer(
            model=self.model, args=args, data_collator=collator,
            train_dataset=[self.encode(r) for r in records],
        )  # fmt: skip
        resume = last_checkpoint(out)
        self._claim(out, trainer.train_dataset, seed, resume)
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        self.model.save_pretrained(str(out / "final"))
        return {"log_history": trainer.state.log_history, "resumed_from": resume and resume.name}

    def _claim(self, out: Path, encoded: list, seed: int, resume: Path | None) -> None:
        """Mark ``out`` as this training's; refuse checkpoints another training left there."""
        settings = {k: v for k, v in asdict(self.config).items() if k not in EXTENDABLE}
        made = {"records": stable_hash(encoded), "seed": seed, "settings": settings,
                "model": self.model_name}  # fmt: skip
        marker = out / MARKER
        found = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None
        if (found or resume) and found != json.loads(json.dumps(made)):
            raise SynthaugError(
                f"{out}: holds the checkpoints of another training (other records, seed, model "
                "or settings); give another folder or remove it"
            )
        write_text_atomic(marker, json.dumps(made, indent=1) + "\n")

    def evaluate(self, records: Sequence[dict[str, Any]]) -> dict[str, float]:
        """Mean loss per learned token on ``records`` and its perplexity."""
        torch, _, _ = _libraries()
        total, count = 0.0, 0
        self.model.eval()
        with torch.no_grad():
            for record in records:
                encoded = self.encode(record)
                labels = torch.tensor([encoded["labels"]])
                learned = int((labels[:, 1:] != IGNORE).sum())
                if not learned:
                    continue
                output = self.model(input_ids=torch.tensor([encoded["input_ids"]]), labels=labels)
                total += float(output.loss) * learned
                count += learned
        if not count:
            raise ValueError("no record has an answer token to score")
        loss = total / count
        return {"loss": loss, "perplexity": math.exp(loss), "tokens": count}
