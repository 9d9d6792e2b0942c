"""A LoRA SFT student: the embedded SmolLM2-135M-Instruct fine-tuned on ``messages`` records.

The weights come from the shipped GGUF (transformers' GGUF loading dequantises the Q4_1
tensors to float32, then the model's quantized marks are cleared so the Trainer trains it; the tokenizer and chat template come from the same file), LoRA adapters
from ``peft`` (rank 8, α 16, dropout 0.05 on the attention projections: common defaults, not
a paper's), training from transformers' ``Trainer`` on the CPU. Only the last (assistant)
turn of each record is learned: the tokens of the turns before it are masked. Seeds fix the
adapters' initialisation and the data order. Checkpoints go to ``out_dir/checkpoint-N``
every ``save_steps`` steps; ``train`` resumes from the newest complete one (its
``trainer_state.json`` is written last), so a run killed with kill -9 continues where it
stopped (and a finished one is loaded, not trained again); ``out_dir/training.json`` names the records, seed, model and settings the
checkpoints belong to, and another training refuses them (only the step count may grow). ``evaluate`` gives the mean loss per learned token on held-out records and its
perplexity; ``generate`` answers the records' prompt turns greedily (for exact match). Needs the ``sft`` extra (torch, transformers, gguf, peft).
"""

from __future__ import annotations

import json
import math
import warnings
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
    """Loads the tokenizer, and the base model once on first use; ``train`` fits LoRA
    adapters, ``evaluate`` scores records, ``generate`` answers their prompts."""

    def __init__(self, model_path: str | Path | None = None, config: SFTConfig | None = None):
        _, transformers, _ = _libraries()
        if model_path is None:
            from ..llm.local import default_model_path

            model_path = default_model_path()
        self.path = Path(model_path)
        self.model_name = self.path.name
        self.config = config or SFTConfig()
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(self.path.parent), gguf_file=self.path.name
        )
        self._model: Any = None  # loaded on first use: the tokenizer alone is much quicker

    @property
    def model(self) -> Any:
        """The model trained and scored: the base model, with adapters after ``train``."""
        if self._model is None:
            torch, transformers, _ = _libraries()
            base = transformers.AutoModelForCausalLM.from_pretrained(
                str(self.path.parent), gguf_file=self.path.name, dtype=torch.float32
            )
            # the weights are dequantised to float32, but the GGUF loader leaves the model
            # marked as quantized, which the Trainer refuses to train: clear the marks
            base.hf_quantizer, base.is_quantized = None, False
            base.config.quantization_config = None
            self._model = base
        return self._model

    def prompt(self, messages: Sequence[dict[str, Any]]) -> str:
        """The chat-formatted turns before the last one, ending where the answer begins."""
        return self.tokenizer.apply_chat_template(
            list(messages[:-1]), tokenize=False, add_generation_prompt=True
        )

    def encode(self, record: dict[str, Any]) -> dict[str, list[int]]:
        """Token ids of the conversation; labels only on the last turn (the answer)."""
        messages = record["messages"]
        full = self.tokenizer.apply_chat_template(messages, tokenize=False)
        ids = self.tokenizer(full, add_special_tokens=False)["input_ids"]
        known = len(self.tokenizer(self.prompt(messages), add_special_tokens=False)["input_ids"])
        ids = ids[: self.config.max_length]
        labels = [IGNORE] * min(known, len(ids)) + ids[known:]
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

    def train(
        self, records: Sequence[dict[str, Any]], out_dir: str | Path, seed: int = 0
    ) -> dict[str, Any]:
        """Fit LoRA adapters on ``records`` (resuming from ``out_dir``'s last checkpoint; one
        that already reached the step count is loaded, not trained further); the adapters are
        saved to ``out_dir/final``. Returns the trainer's log history."""
        with warnings.catch_warnings():  # harmless: no config.json beside the GGUF; a
            # deprecation transformers' own code triggers
            warnings.filterwarnings("ignore", message="Could not find a config file")
            warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")
            return self._train(records, Path(out_dir), seed)

    def _train(self, records: Sequence[dict[str, Any]], out: Path, seed: int) -> dict[str, Any]:
        _, transformers, peft = _libraries()
        c = self.config
        base = self.model
        if isinstance(base, peft.PeftModel):  # trained before: start from the base again
            base = base.unload()
        transformers.set_seed(seed)  # the adapters' initialisation
        lora = peft.LoraConfig(r=c.rank, lora_alpha=c.alpha, lora_dropout=c.dropout,
                               target_modules=list(c.target_modules), task_type="CAUSAL_LM")  # fmt: skip
        self._model = peft.get_peft_model(base, lora)
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
        trainer.remove_callback(transformers.PrinterCallback)  # the log is returned, not printed
        resume = last_checkpoint(out)
        self._claim(out, trainer.train_dataset, seed, resume)
        state = json.loads((resume / "trainer_state.json").read_text()) if resume else {}
        if state.get("global_step", 0) >= self.steps(len(records)):
            # finished: the Trainer would still take one more step (at learning rate 0)
            from safetensors.torch import load_file

            weights = load_file(str(resume / "adapter_model.safetensors"))  # type: ignore[operator]
            peft.set_peft_model_state_dict(self.model, weights)
            history = state["log_history"]
        else:
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
            history = trainer.state.log_history
        self.model.save_pretrained(str(out / "final"))
        return {"log_history": history, "resumed_from": resume and resume.name}

    def steps(self, records: int) -> int:
        """The optimizer steps of a training on ``records`` records (as the Trainer counts)."""
        c = self.config
        if c.max_steps > 0:
            return c.max_steps
        return math.ceil(c.epochs * math.ceil(records / c.batch_size))

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

    def generate(self, records: Sequence[dict[str, Any]], max_new_tokens: int = 256) -> list[str]:
        """The model's greedy answer to each record's prompt turns (all but the last turn),
        ``batch_size`` prompts at a time (left-padded), at most ``max_new_tokens`` each."""
        torch, _, _ = _libraries()
        tokenizer, size = self.tokenizer, max(1, self.config.batch_size)
        prompts = [self.prompt(record["messages"]) for record in records]
        answers: list[str] = []
        self.model.eval()
        side, tokenizer.padding_side = tokenizer.padding_side, "left"
        try:
            for start in range(0, len(prompts), size):
                batch = tokenizer(prompts[start : start + size], add_special_tokens=False,
                                  padding=True, return_tensors="pt")  # fmt: skip
                with torch.no_grad():
                    output = self.model.generate(
                        **batch, max_new_tokens=max_new_tokens, do_sample=False,
                        pad_token_id=tokenizer.pad_token_id,
                    )  # fmt: skip
                new = output[:, batch["input_ids"].shape[1] :]
                answers += tokenizer.batch_decode(new, skip_special_tokens=True)
        finally:
            tokenizer.padding_side = side
        return answers
