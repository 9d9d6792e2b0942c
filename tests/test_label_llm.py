"""label.llm units: schema validation, reply parsing on recorded SmolLM2-135M replies, vote
aggregation (hand-computed entropies) and the requests it builds."""

from __future__ import annotations

import json

import pytest

from synthaug.errors import InputError, RecipeError
from synthaug.methods.labeling.llm import (
    STYLES,
    LabelLLM,
    LabelParams,
    aggregate,
    parse_reply,
    reply_schema,
)
from synthaug.methods.labeling.schema import load_schema, parse_schema
from synthaug.methods.labeling.votes import entropy_bits, majority, vote_counts

NAMES = ["sarcastic", "not_sarcastic"]
# Real replies of the embedded SmolLM2-135M (label_llm recipe: built-in sarcasm schema, two
# shots, instruction_first, n=3 at temperature 0.7, explain + ask_confidence, max_tokens 96)
# for the headline "inclement weather prevents liar from getting to work" (gold: sarcastic).
REAL_REPLIES = [
    '{"label": "not_sarcastic", "confidence": 0, "explanation": "It seems like the weather can '
    'be both a blessing and a curse."}',
    '{"label": "not_sarcastic", "confidence": 0, "explanation": "The on-going inclement weather '
    'prevents liar from getting to work."}',
    '{"label": "sarcastic", "confidence": 2, "explanation": "To: The Onion, Inc. (2020-02-29) '
    '(The Onion) (Lies to The Onion, Inc.) (Sarcasm and the Onion)"}',
]
# Another real reply of that run, without spaces after the colons.
REAL_COMPACT = '{"label": "not_sarcastic","confidence":0, "explanation":"one short sentence."}'


def test_builtin_schema():
    schema = load_schema("sarcasm")
    assert schema.names == NAMES
    assert len(schema.instructions) == 3 and len(schema.examples) == 4


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "must be a mapping with 'labels'"),
        ({"labels": [{"name": "a"}]}, "field 'labels': must be a list of at least two"),
        ({"labels": [{"name": "a"}, {"name": "a"}]}, "field 'labels[1].name': duplicate"),
        ({"labels": [{"name": "a"}, {"name": ""}]}, "field 'labels[1].name': must be a non-empty"),
        ({"labels": [{"name": "a"}, {"name": "b", "x": 1}]}, "field 'labels[1]'"),
        ({"labels": [{"name": "a"}, {"name": "b"}], "instruction": []}, "field 'instruction'"),
        (
            {"labels": [{"name": "a"}, {"name": "b"}], "examples": [{"text": "t", "label": "c"}]},
            "field 'examples[0].label': 'c' is not one of the labels",
        ),
        ({"labels": [{"name": "a"}, {"name": "b"}], "label": 1}, "field 'label': unknown field"),
    ],
)
def test_schema_errors_name_file_and_field(raw, message):
    with pytest.raises(InputError) as error:
        parse_schema(raw, "s.yaml")
    assert str(error.value).startswith("s.yaml: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_schema_files(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"labels": [{"name": "pos"}, {"name": "neg"}]}))
    assert load_schema(str(path)).names == ["pos", "neg"]
    (tmp_path / "bad.yaml").write_text("labels: [a\n")
    with pytest.raises(InputError, match=r"bad\.yaml: not valid yaml"):
        load_schema(str(tmp_path / "bad.yaml"))
    with pytest.raises(InputError, match="no such file or built-in schema"):
        load_schema("nonexistent_schema")


def test_parse_recorded_replies():
    parsed = [parse_reply(text, NAMES) for text in REAL_REPLIES]
    assert [p["label"] for p in parsed] == ["not_sarcastic", "not_sarcastic", "sarcastic"]
    assert [p["confidence"] for p in parsed] == [0, 0, 2]
    assert parsed[0]["explanation"].startswith("It seems like the weather")
    assert parse_reply(REAL_COMPACT, NAMES)["label"] == "not_sarcastic"


def test_parse_cut_off_reply():
    # a prefix of a recorded reply, as a lower max_tokens cuts it
    cut = REAL_REPLIES[2][:60]
    assert parse_reply(cut, NAMES) == {"label": "sarcastic", "confidence": 2, "explanation": None}
    assert parse_reply(REAL_REPLIES[2][:12], NAMES)["label"] is None
    assert parse_reply('{"label": "maybe"}', NAMES)["label"] is None


def test_aggregate_recorded_votes():
    answers = [parse_reply(text, NAMES) for text in REAL_REPLIES]
    fields = aggregate(answers, NAMES, ask_confidence=True)
    # 2 of 3: H = -(2/3 log2 2/3 + 1/3 log2 1/3) = 0.918296 bits
    assert fields == {
        "label": "not_sarcastic",
        "label_votes": {"sarcastic": 1, "not_sarcastic": 2},
        "label_confidence": 0.666667,
        "label_entropy": 0.918296,
        "label_stated_confidence": 0.0,  # the two agreeing answers said 0
        "label_explanation": answers[0]["explanation"],
    }


def test_aggregate_tie_goes_to_higher_stated_confidence():
    answers = [parse_reply(REAL_REPLIES[0], NAMES), parse_reply(REAL_REPLIES[2], NAMES)]
    fields = aggregate(answers, NAMES, ask_confidence=True)
    # 1-1: not_sarcastic said 0, sarcastic said 2 -> sarcastic; H = 1 bit, share 0.5
    assert (fields["label"], fields["label_entropy"], fields["label_confidence"]) == (
        "sarcastic",
        1.0,
        0.5,
    )


def test_aggregate_single_answer_uses_stated_confidence():
    fields = aggregate([parse_reply(REAL_REPLIES[2], NAMES)], NAMES, ask_confidence=True)
    assert fields["label_confidence"] == 0.02 and fields["label_entropy"] == 0.0
    fields = aggregate([parse_reply(REAL_REPLIES[2], NAMES)], NAMES, ask_confidence=False)
    assert fields["label_confidence"] == 1.0 and fields["label_stated_confidence"] is None


def test_votes_math():
    assert entropy_bits(["a", "a", "b", "b"]) == 1.0
    assert entropy_bits(["a", "a", "a", "a", "b"]) == 0.721928
    assert entropy_bits(["a", "b", None]) == 1.584963  # unparsed: its own value
    assert entropy_bits(["a"]) == 0.0
    assert majority(["b", "a", None], ["a", "b"]) == "a"  # tie: the label listed first
    assert majority(["b", "a"], ["a", "b"], {"b": 80.0, "a": 10.0}) == "b"
    assert majority([None], ["a"]) is None
    assert vote_counts(["b", None, "b"], ["a", "b"]) == {"b": 2}


def test_requests_variants_and_shots():
    step = LabelLLM(schema="sarcasm", shots=2, prompt_variants=5, samples=3, explain=True)
    first, fifth = step.request("some headline", 0, 1), step.request("some headline", 4, 2)
    assert first.n == 3 and first.temperature == 0.7 and first.seed == 1
    assert [m["role"] for m in first.messages] == ["user", "assistant"] * 2 + ["user"]
    assert json.loads(first.messages[1]["content"]) == {"label": "sarcastic"}
    assert first.messages[-1]["content"].startswith("Classify the news headline")
    assert "Text: some headline" in first.messages[-1]["content"]
    # variant 4: prompt type 4 % 4 = instruction_first, instruction 4 % 3 = the second phrasing
    assert STYLES[4 % len(STYLES)] == "instruction_first"
    assert fifth.messages[-1]["content"].startswith("Decide whether this headline")
    assert first.json_schema == reply_schema(NAMES, explain=True, ask_confidence=False)
    assert first.json_schema["properties"]["label"]["enum"] == NAMES
    # an example equal to the item is not shown as a shot
    example = step.schema.examples[0].text
    shots = step.request(example, 0, 0).messages[:-1]
    assert all(example not in m["content"] for m in shots)


def test_param_errors():
    assert LabelParams(schema="sarcasm").sampling_temperature == 0.0
    with pytest.raises(ValueError, match="temperature > 0"):
        LabelParams(schema="sarcasm", samples=2, temperature=0)
    with pytest.raises(RecipeError, match="shots: 5"):
        LabelLLM(schema="sarcasm", shots=5)
    with pytest.raises(RecipeError, match="at most 12"):
        LabelLLM(schema="sarcasm", prompt_variants=13)
