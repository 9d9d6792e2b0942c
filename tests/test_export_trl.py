"""Exported files load in Hugging Face ``datasets`` and pass TRL 1.16's own preparation.

Each test exports spec-shaped records with the ``export`` command, loads the file with
``datasets.load_dataset("json", ...)`` and builds the TRL trainer on it, which runs the
trainer's dataset preparation (chat template, EOS, tokenization, prompt/completion split)
in its constructor; nothing is trained and nothing is downloaded: the tokenizer is a BPE
trained here on the test's texts, the models tiny random Llamas built from a config.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from synthaug.export.command import add_command
from synthaug.io import write_records

PAIRS = [
    {
        "instruction": "What color is the sky on a clear day?",
        "chosen": "It is blue.",
        "rejected": "It is green.",
        "chosen_score": 4.5,
        "rejected_score": 2.0,
        "chosen_model": "local:SmolLM2-135M-Instruct-Q4_1.gguf@1a2b",
        "rejected_model": "openai:second@3c4d",
        "pair_method": "ultrafeedback.binarize",
        "completions": [{"response": "It is blue.", "overall_score": 9}],
        "_meta": {"id": "pair-0001", "step": "binarize"},
    },
    {
        "instruction": "Name a prime number.",
        "input": "It must be below ten.",
        "chosen": "Seven is a prime number below ten.",
        "rejected": "Eight.",
        "chosen_score": 5.0,
        "rejected_score": 1.0,
        "chosen_model": "local:SmolLM2-135M-Instruct-Q4_1.gguf@1a2b",
        "rejected_model": "local:SmolLM2-135M-Instruct-Q4_1.gguf@1a2b",
        "pair_method": "self_rewarding.pairs",
        "_meta": {"id": "pair-0002"},
    },
    {
        "instruction": "Say hello politely.",
        "system": "You are a courteous assistant.",
        "chosen": "Hello, it is a pleasure to meet you.",
        "rejected": "What do you want?",
        "chosen_score": None,
        "rejected_score": None,
        "chosen_model": "openai:second@3c4d",
        "rejected_model": "openai:second@3c4d",
        "pair_method": "constitutional.revise",
        "_meta": {"id": "pair-0003"},
    },
]
SFT = [
    {
        "instruction": "Give one word for a happy feeling.",
        "response": "Joy.",
        "system": "Answer in one word.",
        "score": 4.0,
        "_meta": {"id": "sft-0001"},
    },
    {
        "messages": [
            {"role": "user", "content": "What is two plus two?"},
            {"role": "assistant", "content": "Two plus two is four."},
            {"role": "user", "content": "And three plus three?"},
            {"role": "assistant", "content": "Six."},
        ],
        "turns": 2,
        "_meta": {"id": "sft-0002"},
    },
    {
        "instruction": "Translate to French.",
        "input": "Good morning.",
        "output": "Bonjour.",
        "score": 3.5,
        "_meta": {"id": "sft-0003"},
    },
]
EXTRAS = ["source_id", "chosen_score", "rejected_score", "chosen_model", "pair_method"]
# ChatML with a {% generation %} block, so TRL's assistant_only_loss can mask the prompt
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}{{ '\\n' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}<|im_end|>"
    "{% endgeneration %}{% else %}{{ m['content'] }}<|im_end|>{% endif %}{{ '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    """datasets, transformers, trl and torch, offline, plus a tokenizer trained on the texts."""
    home = tmp_path_factory.mktemp("hf_home")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            patch.setenv(name, "1")
        patch.setenv("HF_HOME", str(home))
        import datasets
        import huggingface_hub.constants
        import torch
        import transformers
        import trl

        # both are read at import time: another test module may have imported them first
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        patch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
        yield SimpleNamespace(
            datasets=datasets,
            torch=torch,
            transformers=transformers,
            trl=trl,
            tokenizer=_tokenizer(transformers),
            cache=str(home / "datasets"),
            out=str(home / "trainer"),
        )


def _tokenizer(transformers):
    """A byte-level BPE trained on the test texts, with the chat template and pad/EOS tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = [json.dumps(row) for row in PAIRS + SFT]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=alphabet
    )
    bpe.train_from_iterator(texts, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        chat_template=TEMPLATE,
    )


def _config(hf, **extra):
    tok = hf.tokenizer
    return hf.transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        **extra,
    )


def _lm(hf):
    hf.torch.manual_seed(0)
    return hf.transformers.LlamaForCausalLM(_config(hf))


def _args(hf, config_class, **extra):
    """A trainer config for a CPU and no logging service (``activation_checkpointing`` set:
    TRL's default for its deprecated alias ``gradient_checkpointing`` warns otherwise)."""
    return config_class(
        output_dir=hf.out,
        report_to="none",
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        max_length=256,
        **extra,
    )


def export(tmp_path: Path, records: list[dict], *options: str, suffix: str = ".jsonl") -> Path:
    """Run ``synthaug export`` (the command's own parser and handler) on ``records``."""
    source, out = tmp_path / "in.jsonl", tmp_path / f"out{suffix}"
    write_records(source, records)
    parser = argparse.ArgumentParser(prog="synthaug")
    add_command(parser.add_subparsers())
    args = parser.parse_args(["export", str(source), "-o", str(out), *options])
    assert args.handler(args) == 0
    return out


def load(hf, path: Path):
    return hf.datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=hf.cache)


def decode(hf, ids: list[int]) -> str:
    return hf.tokenizer.decode(ids, skip_special_tokens=False)


def test_sft_export_is_prepared_by_sfttrainer(hf, tmp_path):
    data = load(hf, export(tmp_path, SFT, "--format", "sft"))
    assert data.column_names == ["messages", "source_id", "score", "turns"]
    assert data["source_id"] == ["sft-0001", "sft-0002", "sft-0003"]
    assert data["score"] == [4.0, None, 3.5]
    assert all(hf.trl.is_conversational(row) for row in data)

    trl = hf.trl
    config = _args(hf, trl.SFTConfig, assistant_only_loss=True)
    trainer = trl.SFTTrainer(
        model=_lm(hf), args=config, train_dataset=data, processing_class=hf.tokenizer
    )
    prepared = trainer.train_dataset
    assert {"input_ids", "labels", "messages", "source_id", "score"} <= set(prepared.column_names)
    texts = [decode(hf, row["input_ids"]) for row in prepared]
    assert texts[0].startswith("<|im_start|>system\nAnswer in one word.<|im_end|>")
    assert "<|im_start|>user\nTranslate to French.\n\nGood morning.<|im_end|>" in texts[2]
    # the loss covers the assistant turns only (TRL's assistant mask from {% generation %})
    pairs = [zip(row["input_ids"], row["labels"], strict=True) for row in prepared]
    trained = [decode(hf, [token for token, label in pair if label != -100]) for pair in pairs]
    assert trained == [
        "Joy.<|im_end|>",
        "Two plus two is four.<|im_end|>Six.<|im_end|>",
        "Bonjour.<|im_end|>",
    ]


def test_parquet_export_loads_like_the_jsonl(hf, tmp_path):
    jsonl = load(hf, export(tmp_path / "j", PAIRS, "--format", "dpo", "--conversational"))
    path = export(tmp_path / "p", PAIRS, "--format", "dpo", "--conversational", suffix=".parquet")
    parquet = hf.datasets.load_dataset(
        "parquet", data_files=str(path), split="train", cache_dir=hf.cache
    )
    assert parquet.to_list() == jsonl.to_list()


@pytest.mark.parametrize("conversational", [True, False])
def test_dpo_export_is_prepared_by_dpotrainer(hf, tmp_path, conversational):
    flags = ["--conversational"] if conversational else []
    data = load(hf, export(tmp_path, PAIRS, "--format", "dpo", *flags))
    assert data.column_names[:3] == ["prompt", "chosen", "rejected"]
    assert set(EXTRAS) <= set(data.column_names) and "completions" not in data.column_names
    assert data["chosen_score"] == [4.5, 5.0, None]
    assert hf.trl.is_conversational(data[0]) == conversational

    trl, tok = hf.trl, hf.tokenizer
    trainer = trl.DPOTrainer(
        model=_lm(hf),
        ref_model=_lm(hf),
        args=_args(hf, trl.DPOConfig),
        train_dataset=data,
        processing_class=tok,
    )
    prepared = trainer.train_dataset
    assert {"prompt_ids", "chosen_ids", "rejected_ids", *EXTRAS} <= set(prepared.column_names)
    assert prepared["pair_method"] == [row["pair_method"] for row in PAIRS]
    for row, source in zip(prepared, PAIRS, strict=True):
        prompt = decode(hf, row["prompt_ids"])
        chosen = decode(hf, row["prompt_ids"] + row["chosen_ids"])
        rejected = decode(hf, row["prompt_ids"] + row["rejected_ids"])
        if conversational:
            question = "\n\n".join(filter(None, [source["instruction"], source.get("input")]))
            assert prompt.endswith(question + "<|im_end|>\n<|im_start|>assistant\n")
            assert ("<|im_start|>system\n" in prompt) == ("system" in source)
            assert chosen == prompt + source["chosen"] + "<|im_end|>\n"
            assert rejected == prompt + source["rejected"] + "<|im_end|>\n"
        else:  # TRL joins prompt + chosen as they are and adds the EOS token
            assert chosen.startswith(source["instruction"])
            assert chosen.endswith("\n\n" + source["chosen"] + "<|im_end|>")
            assert rejected.endswith("\n\n" + source["rejected"] + "<|im_end|>")


def test_orpo_export_is_prepared_by_orpotrainer(hf, tmp_path):
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    data = load(hf, export(tmp_path, PAIRS, "--format", "orpo", "--conversational"))
    trainer = ORPOTrainer(
        model=_lm(hf),
        args=_args(hf, ORPOConfig, max_completion_length=64),
        train_dataset=data,
        processing_class=hf.tokenizer,
    )
    prepared = trainer.train_dataset
    columns = {"chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels"}
    assert columns | {"prompt_input_ids", *EXTRAS} <= set(prepared.column_names)
    for row, source in zip(prepared, PAIRS, strict=True):
        ids, labels = row["chosen_input_ids"], row["chosen_labels"]
        trained = decode(hf, [t for t, y in zip(ids, labels, strict=True) if y != -100])
        assert trained.startswith(source["chosen"] + "<|im_end|>")
        assert len(row["prompt_input_ids"]) == labels.count(-100)


@pytest.mark.parametrize("conversational", [True, False])
def test_kto_export_is_prepared_by_ktotrainer(hf, tmp_path, conversational):
    flags = ["--conversational"] if conversational else []
    kto = load(hf, export(tmp_path / "kto", PAIRS, "--format", "kto", *flags))
    assert kto.column_names[:3] == ["prompt", "completion", "label"]
    assert kto.features["label"].dtype == "bool"
    assert kto["label"] == [True, False] * 3
    assert kto["source_id"] == ["pair-0001"] * 2 + ["pair-0002"] * 2 + ["pair-0003"] * 2
    # the same rows as TRL's own unpairing of the DPO export
    dpo = load(hf, export(tmp_path / "dpo", PAIRS, "--format", "dpo", *flags))
    unpaired = hf.trl.unpair_preference_dataset(dpo)

    def triples(data):
        return sorted(json.dumps([r["prompt"], r["completion"], r["label"]]) for r in data)

    assert triples(unpaired) == triples(kto)

    trl = hf.trl
    trainer = trl.KTOTrainer(
        model=_lm(hf),
        ref_model=_lm(hf),
        args=_args(hf, trl.KTOConfig),
        train_dataset=kto,
        processing_class=hf.tokenizer,
    )
    prepared = trainer.train_dataset
    assert {"prompt_ids", "completion_ids", "label", *EXTRAS} <= set(prepared.column_names)
    assert prepared["label"] == [True, False] * 3
    completions = [decode(hf, row["completion_ids"]) for row in prepared]
    assert completions[0].startswith(PAIRS[0]["chosen"])
    assert completions[1].startswith(PAIRS[0]["rejected"])
    assert all("<|im_end|>" in text for text in completions)


@pytest.mark.parametrize("conversational", [True, False])
def test_rm_export_is_prepared_by_rewardtrainer(hf, tmp_path, conversational):
    flags = ["--conversational"] if conversational else []
    data = load(hf, export(tmp_path, PAIRS, "--format", "rm", *flags))
    assert data.column_names[:2] == ["chosen", "rejected"] and "prompt" not in data.column_names
    assert set(EXTRAS) <= set(data.column_names)
    # implicit prompt: TRL's own extraction finds the shared prompt inside both sides
    extracted = hf.trl.extract_prompt(data[0])
    assert extracted["prompt"] + extracted["chosen"] == data[0]["chosen"]
    if conversational:
        assert extracted["chosen"] == [{"role": "assistant", "content": "It is blue."}]
    else:  # character-wise: the common prefix runs into the answers' shared "It is "
        assert extracted["prompt"].startswith(PAIRS[0]["instruction"] + "\n\n")

    trl, tok = hf.trl, hf.tokenizer
    hf.torch.manual_seed(0)
    model = hf.transformers.LlamaForSequenceClassification(_config(hf, num_labels=1))
    trainer = trl.RewardTrainer(
        model=model, args=_args(hf, trl.RewardConfig), train_dataset=data, processing_class=tok
    )
    prepared = trainer.train_dataset
    assert {"chosen_ids", "rejected_ids", *EXTRAS} <= set(prepared.column_names)
    for row, source in zip(prepared, data, strict=True):
        if conversational:
            expected = tok.apply_chat_template(source["chosen"], tokenize=False)
        else:
            expected = source["chosen"] + tok.eos_token
        assert decode(hf, row["chosen_ids"]) == expected


CALCULATE = {
    "type": "function",
    "function": {
        "name": "calculate",
        "description": "Evaluate an arithmetic expression exactly.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}},
                       "required": ["expression"]},
    },
}  # fmt: skip
DAY = {
    "type": "function",
    "function": {
        "name": "day_of_week",
        "description": "The day of the week a date falls on.",
        "parameters": {"type": "object", "properties": {"date": {"type": "string"}}},
    },
}
TOOL_ROWS = [
    {  # APIGen's shape: parallel calls, their results as tool messages
        "query": "What are 2**10 and 3*7?",
        "tools": [CALCULATE],
        "messages": [
            {"role": "user", "content": "What are 2**10 and 3*7?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "calculate", "arguments": '{"expression": "2**10"}'}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "calculate", "arguments": '{"expression": "3*7"}'}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "name": "calculate", "content": '"1024"'},
            {"role": "tool", "tool_call_id": "call_2", "name": "calculate", "content": '"21"'},
        ],
        "_meta": {"id": "tool-0001"},
    },
    {  # irrelevance: tools offered, none applies
        "tools": [CALCULATE, DAY],
        "messages": [
            {"role": "user", "content": "Translate 'cat' to French."},
            {"role": "assistant", "content": "None of the available tools can answer this."},
        ],
        "_meta": {"id": "tool-0002"},
    },
    SFT[0],  # no tools
]  # fmt: skip
# ChatML that lists the tools in a system turn and renders calls as <tool_call> blocks
TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system{{ '\\n' }}{% for t in tools %}{{ t['function']['name'] }}: "
    "{{ t['function']['description'] }}{{ '\\n' }}{% endfor %}<|im_end|>{{ '\\n' }}{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}{{ '\\n' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}"
    "{% for c in m['tool_calls'] or [] %}<tool_call>{{ c['function']['name'] }} "
    "{{ c['function']['arguments'] }}</tool_call>{% endfor %}<|im_end|>{% endgeneration %}"
    "{% else %}{{ m['content'] }}<|im_end|>{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)


def test_tool_calling_export_is_prepared_by_sfttrainer_with_its_tools(hf, tmp_path):
    data = load(hf, export(tmp_path, TOOL_ROWS, "--format", "sft"))
    assert data.column_names[:2] == ["messages", "tools"]
    assert json.loads(data["tools"][0]) == [CALCULATE]
    assert json.loads(data["tools"][1]) == [CALCULATE, DAY]
    assert data["tools"][2] is None
    tokenizer = copy.deepcopy(hf.tokenizer)
    tokenizer.chat_template = TOOL_TEMPLATE
    trl = hf.trl
    config = _args(hf, trl.SFTConfig, assistant_only_loss=True)
    trainer = trl.SFTTrainer(
        model=_lm(hf), args=config, train_dataset=data, processing_class=tokenizer
    )
    prepared = trainer.train_dataset
    texts = [decode(hf, row["input_ids"]) for row in prepared]
    assert texts[0].startswith(
        "<|im_start|>system\ncalculate: Evaluate an arithmetic expression exactly.\n<|im_end|>"
    )
    assert '<|im_start|>tool\n"21"<|im_end|>' in texts[0]
    assert "day_of_week: The day of the week" in texts[1]
    assert texts[2].startswith("<|im_start|>system\nAnswer in one word.<|im_end|>")  # no tools
    pairs = [zip(row["input_ids"], row["labels"], strict=True) for row in prepared]
    trained = [decode(hf, [token for token, label in pair if label != -100]) for pair in pairs]
    assert trained == [
        '<tool_call>calculate {"expression": "2**10"}</tool_call>'
        '<tool_call>calculate {"expression": "3*7"}</tool_call><|im_end|>',
        "None of the available tools can answer this.<|im_end|>",
        "Joy.<|im_end|>",
    ]
