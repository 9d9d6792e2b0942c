"""UltraFeedback: aspect ratings of all completions at once (shuffled afresh for each aspect,
mapped back), the critique with the paper's score fix and its re-annotation, and binarization;
on recorded and live embedded-model replies."""

from __future__ import annotations

import asyncio
import json
import random
from importlib import resources

import yaml
from conftest import read_jsonl, run_recipe_twice

from synthaug.engine.step import StepContext
from synthaug.methods.preference.ultrafeedback import (
    ASPECTS,
    NO_KNOWLEDGE,
    Binarize,
    Rate,
    all_pairs,
    aspect_orders,
    aspect_schema,
    binarized_pair,
    critique_schema,
    fine_grained_score,
    fix_overall,
    parse_aspect,
    parse_critique,
    parse_rescore,
    rescore_schema,
    shown_order,
    unshuffle,
    world_knowledge,
)
from synthaug.records import META

MODEL = "local:SmolLM2-135M-Instruct.Q4_1.gguf"
# Real replies of the embedded SmolLM2-135M (temperature 0, under aspect_schema with
# rationale_chars 60, max_tokens 600; critiques under critique_schema(150)) for
# "Name three primary colors." and its four real completions (preference.responses,
# max_tokens 64), shown in the order SHOWN = [1, 0, 3, 2]. Every aspect rates the texts by
# their position (1, 2, 3, 4), and every critique scores 10.
SHOWN = [1, 0, 3, 2]
REAL_RESPONSES = [
    "There are three primary colors: Red, Blue, and Yellow. These are the primary colors in the RGB color model, which is a color model based on the additive nature of light. The primary colors are: Red (R), Blue (B), and Yellow (Y).",
    "The primary colors are:\n\n1. Red: The most fundamental color, used to describe the complete set of colors in the RGB color system: (Red, Blue, Green)\n2. Blue: The fourth fundamental color, used to describe the complete set of colors in the RGB color system: (Blue, Green",
    "The primary colors are: blue, yellow, and red. These three colors are fundamental in the visual spectrum.",
    "The primary colors are: \nRed, Blue, and Yellow, as well as the secondary colors of Green and White.",
]

REAL_INSTRUCTION_FOLLOWING = (
    '{\n  "texts": [\n    {\n      "rating": 1,\n      "rationale": "The primary '
    'colors are: Red, Blue, and Yellow, as well as 3."},\n    {\n      "rating"'
    ': 2,\n      "rationale": "The primary colors are: Red, Blue, and Yellow, '
    'as well as 3."},\n    {\n      "rating": 3,\n      "rationale": "The primar'
    'y colors are: Blue, Green, and White, as well as 3"\n    },\n    {\n      "'
    'rating": 4,\n      "rationale": "The primary colors are: Red, Blue, and Y'
    'ellow, as well as 3."}\n  ]\n}'
)

REAL_HONESTY = (
    '{\n  "texts": [\n    {\n      "rating": 1,\n      "rationale": "The primary '
    'colors are: Red, Blue, and Yellow, as well as 3:"\n    },\n    {\n      "ra'
    'ting": 2,\n      "rationale": "The primary colors are: Blue, Green, and W'
    'hite, as well as 3"\n    },\n    {\n      "rating": 3,\n      "rationale": "'
    'The primary colors are: Blue, Blue, and Yellow, as well as 3"\n    },\n   '
    ' {\n      "rating": 4,\n      "rationale": "The primary colors are: Blue, '
    'Blue, and Yellow, as well as 3"\n    }\n  ]\n}'
)

REAL_TRUTHFULNESS = (
    '{\n  "texts": [\n    {\n      "type": [\n       \n        \t\t       \t\t\t],\n    '
    '    "type_rationale": "The primary colors are: Red, Blue, and Yellow","r'
    'ating": 1,\n      "rationale": "The primary colors are: Red, Blue, and Ye'
    'llow"\n    },\n    {\n      "type": [\n       \n        \t\t\t],\n        "type_r'
    'ationale": "The primary colors are: Red, Blue, and Yellow","rating": 2,\n'
    '      "rationale": "The primary colors are: Red, Blue, and Yellow"\n    }'
    ',\n    {\n      "type": [\n       \n        \t\t],\n        "type_rationale": "'
    'The primary colors are: Blue, Green, and White","rating": 3,\n      "rati'
    'onale": "The primary colors are: Blue, Green, and White"\n    },\n    {\n  '
    '    "type": [\n       \n        \t\t],\n        "type_rationale": "The primar'
    'y colors are: Blue, Green, and White","rating": 4,\n      "rationale": "T'
    'he primary colors are: Blue, Green, and White"\n    }\n  ]\n}'
)

REAL_HELPFULNESS = (
    '{\n  "texts": [\n    {\n      "type": [\n       \n        \t   \t   \t   ],"type'
    '_rationale": "primary colors","rating": 1,"rationale": "primary colors"\n'
    '      },\n      {\n        "type": [\n         \n          \t   \t   \t ],"type'
    '_rationale": "primary colors","rating": 2,"rationale": "primary colors"\n'
    '        },\n      {\n        "type": [\n         \n        ],"type_rationale'
    '": "primary colors","rating": 3,"rationale": "primary colors"\n      },\n '
    '     {\n        "type": [\n         \n          \t   \t   \t ],"type_rationale'
    '": "primary colors","rating": 4,"rationale": "primary colors"\n        }\n'
    "      ]\n    }"
)

REAL_CRITIQUES = [
    '{\n    "feedback": "The answer is not a primary color. The answer is not a primary color. The answer is not a primary color. The answer is not a primary color. The answer","overall_score": 10}',
    '{\n    "feedback": "The primary colors are: Red, Blue, Green",\n    "overall_score": 10\n}',
    '{\n    "feedback": "The primary colors are: blue, yellow, and red.",\n    "overall_score": 10\n}',
    '{\n    "feedback": "The primary colors are: Red, Blue, and Yellow, as well as the secondary colors of Green and White, as well as the tertiary colors of Blue and Black, 1",\n    "overall_score": 10\n}',
]

REAL_TYPED_TRUTHFULNESS = (
    '{\n  "texts": [\n    {\n      "type": [\n        1,\n        2,\n        3\n   '
    '   ],\n      "type_rationale": "The truthfulness of the text is not a mat'
    'ter of subjective, ",\n      "rating": 1,\n      "rationale": "The truthfu'
    'lness of the text is not a matter of subjective, "\n    },\n    {\n      "t'
    'ype": [\n        2,\n        3,\n        1\n      ],\n      "type_rationale":'
    ' "The truthfulness of the text is not a matter of subjective, ",\n      "'
    'rating": 2,\n      "rationale": "The truthfulness of the text is not a ma'
    'tter of subjective, "\n    },\n    {\n      "type": [\n        3,\n        1,'
    '\n        2\n      ],\n      "type_rationale": "The truthfulness of the tex'
    't is not a matter of subjective, ",\n      "rating": 3,\n      "rationale"'
    ': "The truthfulness of the text is not a matter of subjective, "\n    },\n'
    '    {\n      "type": [\n        1,\n        2,\n        3\n      ],\n      "ty'
    'pe_rationale": "The truthfulness of the text is not a matter of subjecti'
    've, ",\n      "rating": 1,\n      "rationale": "The truthfulness of the te'
    'xt is not a matter of subjective, "\n    }\n  ]\n}'
)

REAL_CUT_OFF_RATING = (
    '{\n  "texts": [\n    {\n      "rating": 1,\n      "rationale": "The primary '
    "colors are red, blue, and green, and the colors,"
)


def test_shown_order_is_seeded_and_unshuffle_inverts_it():
    assert shown_order(4, 11) == shown_order(4, 11)
    assert sorted(shown_order(4, 11)) == [0, 1, 2, 3]
    assert len({tuple(shown_order(4, seed)) for seed in range(20)}) > 1
    for seed in range(10):
        order = shown_order(5, seed)
        shown = [f"text of completion {j}" for j in order]
        assert unshuffle(shown, order) == [f"text of completion {j}" for j in range(5)]


def test_each_aspect_shows_the_texts_in_its_own_seeded_order():
    """The authors' annotation script reshuffles the completions for every aspect."""
    ctx = StepContext(llm=None, run_seed=0, step_name="rate")
    completions = [{"response": f"answer {j}"} for j in range(4)]
    step, distinct = Rate(), 0
    for i in range(20):
        row = {"instruction": "Q?", "completions": completions, META: {"id": f"row-{i}"}}
        orders, requests = step.rating_requests(row, ctx)
        assert orders == aspect_orders(4, ctx, f"row-{i}")
        assert orders == step.rating_requests(row, ctx)[0]  # seeded by row and aspect
        for aspect, request in zip(ASPECTS, requests, strict=True):
            assert orders[aspect] == shown_order(4, ctx.seed(f"row-{i}", "order", aspect))
            user = request.messages[1]["content"]
            shown = [f"<text {k + 1}> answer {j}" for k, j in enumerate(orders[aspect])]
            assert all(text in user for text in shown)
            assert [user.index(text) for text in shown] == sorted(user.index(t) for t in shown)
        distinct += len({tuple(order) for order in orders.values()}) > 1
    assert distinct >= 18  # one shared order would give 0; 4 fresh ones collide 1 time in 13824


def test_real_ratings_map_back_to_the_completions_own_order():
    replies = [REAL_INSTRUCTION_FOLLOWING, REAL_HONESTY, REAL_TRUTHFULNESS, REAL_HELPFULNESS]
    annotations = [{} for _ in REAL_RESPONSES]
    for aspect, reply in zip(ASPECTS, replies, strict=True):
        parsed = parse_aspect(reply, aspect, len(REAL_RESPONSES))
        assert [a["rating"] for a in parsed] == [1, 2, 3, 4]  # by position, as shown
        for j, annotation in enumerate(unshuffle(parsed, SHOWN)):
            annotations[j][aspect] = annotation
    # completion j was shown at position SHOWN.index(j), so it got rating SHOWN.index(j) + 1
    for j, completion in enumerate(annotations):
        assert {a["rating"] for a in completion.values()} == {SHOWN.index(j) + 1}
    assert annotations[2]["instruction_following"]["rationale"].startswith(
        "The primary colors are: Red, Blue"
    )
    assert annotations[0]["truthfulness"]["type"] == []  # whitespace-only list: no type
    assert set(annotations[0]["helpfulness"]) == {"type", "type_rationale", "rating", "rationale"}
    fine = [fine_grained_score(a) for a in annotations]
    assert fine == [2.0, 1.0, 4.0, 3.0]
    scores = [parse_critique(reply) for reply in REAL_CRITIQUES]
    assert [s[1] for s in scores] == [10, 10, 10, 10]
    assert scores[1][0] == "The primary colors are: Red, Blue, Green"
    fixed = [fix_overall(10, f) for f in fine]
    assert fixed == [(1, "flipped"), (1, "flipped"), (10, "reannotate"), (10, "reannotate")]


def test_real_typed_reply_and_cut_off_reply():
    parsed = parse_aspect(REAL_TYPED_TRUTHFULNESS, "truthfulness", 4)
    assert [a["type"] for a in parsed] == [[1, 2, 3]] * 4  # [2, 3, 1] and [3, 1, 2] sorted
    assert [a["rating"] for a in parsed] == [1, 2, 3, 1]
    assert parse_aspect(REAL_TYPED_TRUTHFULNESS, "truthfulness", 3) is None  # wrong count
    assert parse_aspect(REAL_TYPED_TRUTHFULNESS, "instruction_following", 4)[0] == {
        "rating": 1,
        "rationale": "The truthfulness of the text is not a matter of subjective,",
    }
    assert parse_aspect(REAL_CUT_OFF_RATING, "instruction_following", 2) is None
    assert parse_critique(REAL_CUT_OFF_RATING) is None


def test_reannotation_asks_for_the_overall_score_after_the_written_feedback():
    """fix_overall_score_issue.py: an overall 10 with a fine-grained mean in (2, 4] is scored
    again by the critique prompt, with the feedback already written shown after it."""
    step = Rate()
    completion = {"response": "A.", "system_prompt": "Be honest.", "critique": "Too terse."}
    request = step.rescore_request("Q?", completion, 5)
    user = request.messages[1]["content"]
    first = step.critique_request("Q?", completion, 5).messages[1]["content"]
    assert user.startswith(first.rsplit("\n", 1)[0])  # the critique prompt, less its last line
    assert "### Feedback\nToo terse." in user and "Q?\nNote: Be honest." in user
    assert request.json_schema == rescore_schema() and request.temperature == 0
    assert list(rescore_schema()["properties"]) == ["overall_score"]
    assert parse_rescore('{"overall_score": 6}') == 6
    assert parse_rescore('{"overall_score": 11}') is None
    assert parse_rescore('{"overall_score": true}') is None
    assert parse_rescore('{"overall_sc') is None


def test_schemas_na_and_fix_rules():
    schema = aspect_schema("honesty", 3, 50)
    texts = schema["properties"]["texts"]
    assert texts["minItems"] == texts["maxItems"] == 3
    assert texts["items"]["properties"]["rating"]["enum"] == [1, 2, 3, 4, 5, "N/A"]
    assert texts["items"]["properties"]["rationale"]["maxLength"] == 50
    typed = aspect_schema("helpfulness", 2)["properties"]["texts"]["items"]["properties"]
    assert list(typed) == ["type", "type_rationale", "rating", "rationale"]
    assert typed["type"]["items"]["enum"] == [1, 2, 3] and typed["rating"]["enum"] == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert critique_schema(80)["properties"]["overall_score"]["enum"] == list(range(1, 11))
    na = json.dumps({"texts": [{"rating": "N/A", "rationale": "a poem"}]})
    assert parse_aspect(na, "honesty", 1)[0]["rating"] == "N/A"
    assert parse_aspect(na, "instruction_following", 1) is None
    annotations = {
        "instruction_following": {"rating": 5},
        "honesty": {"rating": "N/A"},
        "truthfulness": {"rating": 4},
        "helpfulness": {"rating": 4},
    }
    assert fine_grained_score(annotations) == 4.3333
    assert fix_overall(10, 4.3333) == (10, "kept")
    assert fix_overall(10, 4.0) == (10, "reannotate")
    assert fix_overall(10, 2.0) == (1, "flipped")
    assert fix_overall(7, 1.0) == (7, None)


def test_world_knowledge_goes_into_the_truthfulness_prompt_only():
    row = {"correct_answers": ["Paris"], "incorrect_answers": ["Lyon", "Nice"], "empty": ""}
    knowledge = world_knowledge(row, ["correct_answers", "incorrect_answers", "empty"])
    assert knowledge == "correct answers: Paris\nincorrect answers: Lyon; Nice"
    assert world_knowledge(row, []) == NO_KNOWLEDGE
    ctx = StepContext(llm=None, run_seed=0, step_name="rate")
    step = Rate(knowledge_columns=["correct_answers"])
    texts = ["Paris.", "Lyon."]
    prompts = {
        aspect: step.rating_request(aspect, "Capital of France?", texts, knowledge, ctx, "r")
        for aspect in ASPECTS
    }
    for aspect, request in prompts.items():
        user = request.messages[1]["content"]
        assert "<text 1> Paris.\n<text 2> Lyon." in user and request.temperature == 0
        assert ("incorrect answers: Lyon; Nice" in user) == (aspect == "truthfulness")
    assert (
        "4 texts"
        in Rate().rating_request("honesty", "q", ["a"] * 4, "", ctx, "r").messages[0]["content"]
    )
    note = step.critique_request("Q?", {"response": "A.", "system_prompt": "Be honest."}, 1)
    assert "Q?\nNote: Be honest." in note.messages[1]["content"]


def rated(scores: list[float | None], row_id: str = "row-1") -> dict:
    completions = [
        {"model": f"m{i}", "response": f"answer {i}", "overall_score": s, "fine_grained_score": 3.0}
        for i, s in enumerate(scores)
    ]
    return {"instruction": "Q?", "completions": completions, META: {"id": row_id}}


def test_binarize_picks_best_and_a_random_lower_one_seeded_by_row():
    rng = random.Random(0)
    assert binarized_pair([(0, 7), (1, 9), (2, 9), (3, 2)], rng)[0] == 1  # first of the tied best
    assert binarized_pair([(0, 5), (1, 5)], rng) is None
    drawn = {
        binarized_pair([(0, 9), (1, 3), (2, 4), (3, 1)], random.Random(s))[1] for s in range(30)
    }
    assert drawn == {1, 2, 3}
    assert sorted(all_pairs([(0, 9), (1, 3), (2, 3)])) == [(0, 1), (0, 2)]
    ctx = StepContext(llm=None, run_seed=0, step_name="binarize")
    step = Binarize()
    first = asyncio.run(step.process(rated([9, 3, None, 4]), ctx))
    assert first == asyncio.run(step.process(rated([9, 3, None, 4]), ctx))  # seeded by row id
    (pair,) = first
    assert (
        pair["chosen"] == "answer 0" and pair["chosen_score"] == 9 and pair["chosen_model"] == "m0"
    )
    assert (
        pair["rejected_index"] in (1, 3) and pair["rejected"] == f"answer {pair['rejected_index']}"
    )
    assert pair["pair_method"] == "ultrafeedback.binarize" and "completions" not in pair
    others = {
        asyncio.run(step.process(rated([9, 3, 4, 2], f"row-{i}"), ctx))[0]["rejected_index"]
        for i in range(30)
    }
    assert others == {1, 2, 3}
    pairs = asyncio.run(Binarize(mode="all_pairs").process(rated([9, 3, 3]), ctx))
    assert [(p["chosen_index"], p["rejected_index"]) for p in pairs] == [(0, 1), (0, 2)]
    assert len({p[META]["id"] for p in pairs}) == 2
    by_fine = asyncio.run(Binarize(score="fine_grained_score").process(rated([9, 3]), ctx))
    assert by_fine[0][META]["error"]["kind"] == "all_scores_equal"
    tied = asyncio.run(step.process(rated([10, 10]), ctx))
    assert tied[0][META]["error"]["kind"] == "all_scores_equal"


def test_ultrafeedback_recipe_on_the_embedded_model(tmp_path):
    """The built-in recipe up to the rate step on the embedded model (run seed 3 gives a
    suspicious 10 to re-annotate and scores that differ), then binarized."""
    recipe = yaml.safe_load(
        (resources.files("synthaug") / "recipes" / "ultrafeedback.yaml").read_text()
    )
    assert recipe["steps"].pop()["method"] == "ultrafeedback.binarize"
    recipe["seed"] = 3
    recipe["steps"][1]["params"].update(per_prompt=3, max_tokens=24)
    recipe["steps"][2]["params"].update(
        rationale_chars=20, max_tokens=320, critique_chars=40, critique_max_tokens=64
    )
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    rows = run_recipe_twice(tmp_path, str(path), "--limit", "2")
    errors_path = tmp_path / "data.errors.jsonl"
    assert not errors_path.exists() or read_jsonl(errors_path) == []
    assert len(rows) == 2
    reannotated, shuffled = 0, 0
    for row in rows:
        completions = row["completions"]
        assert len(completions) == 3 and row[META]["method"] == "ultrafeedback.rate"
        # each aspect's order is the seeded one for this row and aspect, drawn afresh
        ctx = StepContext(llm=None, run_seed=3, step_name="rate")
        orders = row[META]["shown_order"]
        assert orders == aspect_orders(3, ctx, row[META]["parents"][0])
        shuffled += len({tuple(order) for order in orders.values()}) > 1
        for c in completions:
            assert set(c["annotations"]) == set(ASPECTS)
            assert c["fine_grained_score"] == fine_grained_score(c["annotations"])
            assert c["overall_score"] in range(1, 11)
            fine = c["fine_grained_score"]
            # the fix: no 10 survives with a mean <= 2, a 10 with a mean in (2, 4] is re-scored
            assert c["score_fix"] in (None, "flipped", "kept", "reannotated")
            if c["score_fix"] == "flipped":
                assert c["overall_score"] == 1 and fine <= 2
            if c["score_fix"] == "kept":
                assert c["overall_score"] == 10 and fine > 4
            if c["score_fix"] == "reannotated":
                assert 2 < fine <= 4
            if c["score_fix"] is None:
                assert c["overall_score"] != 10
            reannotated += c["score_fix"] == "reannotated"
    assert shuffled >= 1 and reannotated >= 1
    # the re-annotation is a request of its own: 4 ratings and 3 critiques per row, plus one
    # per re-annotated completion
    for row in rows:
        again = sum(c["score_fix"] == "reannotated" for c in row["completions"])
        assert len(set(row[META]["request"])) == len(ASPECTS) + 3 + again
    # binarized (no model): at least one pair, the best-scored completion above a lower one
    ctx = StepContext(llm=None, run_seed=3, step_name="binarize")
    pairs = 0
    for row in rows:
        (pair,) = asyncio.run(Binarize().process(row, ctx))
        scores = [c["overall_score"] for c in row["completions"]]
        if len(set(scores)) == 1:
            assert pair[META]["error"]["kind"] == "all_scores_equal"
            continue
        pairs += 1
        assert pair["chosen_score"] == max(scores) > pair["rejected_score"]
        assert pair["chosen"] == row["completions"][pair["chosen_index"]]["response"]
        assert pair["chosen_model"] == pair["rejected_model"] == MODEL
        assert pair["chosen_index"] != pair["rejected_index"] and "completions" not in pair
    assert pairs >= 1
