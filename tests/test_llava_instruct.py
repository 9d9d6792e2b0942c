"""Synthetic scenes and LLaVA-style visual instructions: scenes drawn with exact annotations,
replies parsed in the paper's formats, the recipe on the embedded model (rerun from the cache,
checked questions re-verified, a corrupted one caught) and the exports loading with datasets."""

from __future__ import annotations

import io
import json
import shutil

import datasets
import pytest
from conftest import resume_after_kill, run_cli, write_jsonl
from PIL import Image

from synthaug.engine.step import RowError
from synthaug.media import scene_questions, scenes
from synthaug.methods.multimodal.llava import (
    DETAIL_INSTRUCTIONS,
    examples,
    messages_for,
    parse_complex,
    parse_conversation,
)
from synthaug.verify.evidence import scene_verdict


def test_scenes_are_drawn_as_their_graph_says():
    scene = scenes.make_scene(11, 4, 6)
    assert scenes.make_scene(11, 4, 6) == scene and 4 <= len(scene["objects"]) <= 6
    picture = Image.open(io.BytesIO(scenes.draw(scene))).convert("RGB")
    assert picture.size == (scene["width"], scene["height"])
    for o in scene["objects"]:
        x, y = scenes.center(o)
        assert picture.getpixel((int(x), int(y))) == scenes.COLORS[o["color"]]
    boxes = scenes.boxes(scene)
    assert len(boxes) == len(scene["objects"]) and boxes[0].startswith(
        scenes.name(scene["objects"][0])
    )
    assert len(scenes.captions(scene)) == 5


def test_scene_answers_come_from_the_scene_graph():
    scene = {"width": 100, "height": 100, "objects": [
        {"id": 0, "shape": "circle", "color": "red", "size": "large", "box": [0, 0, 20, 20]},
        {"id": 1, "shape": "square", "color": "red", "size": "small", "box": [60, 60, 80, 80]},
        {"id": 2, "shape": "circle", "color": "blue", "size": "small", "box": [60, 0, 80, 20]},
    ]}  # fmt: skip
    reds = {"attributes": {"color": "red"}}
    assert scene_questions.answer(scene, "count", reds) == "2"
    assert scene_questions.answer(scene, "exist", {"attributes": {"shape": "triangle"}}) == "No"
    left = {"first": "large red circle", "second": "small blue circle", "relation": "left of"}
    assert scene_questions.answer(scene, "relation", left) == "Yes"
    assert scene_questions.answer(scene, "relation", {**left, "relation": "below"}) == "No"
    asked = scene_questions.sample(scene, 4, seed=5)
    assert len(asked) == 4 and len({json.dumps(q, sort_keys=True) for q in asked}) == 4
    evidence = scene_verdict(scene, "count", reds)
    assert evidence["question"] == "How many red objects are there in the image?"
    assert evidence["answer"] == "2" and evidence["verified"] is True


def test_replies_parse_in_the_papers_formats():
    shot = examples()
    pairs = parse_conversation(shot["conversation"])
    assert len(pairs) == 4 and all(q and a for q, a in pairs)
    assert parse_conversation('not json\n{"question": "Q?", "answer": "A."}') == [("Q?", "A.")]
    assert parse_complex(shot["complex"])[0].startswith("If someone asked")
    assert parse_complex("Question: why?\nno separator") is None
    detail = messages_for("detail", shot["detail"], seed=3)
    assert detail[0]["content"] in DETAIL_INSTRUCTIONS and detail[1]["role"] == "assistant"
    with pytest.raises(RowError, match="no conversation"):
        messages_for("conversation", "I cannot help with that.", seed=0)


ARGS = [
    "llava_instruct",
    "--set", "steps[0].params.count=4",
    "--set", "backend.parallel=1",  # one answer at a time: the run is killed between two
    "--set", "steps[0].params.max_objects=4",
    "--set", "steps[1].params.max_tokens=48",
    "--set", "steps[1].params.types=[detail]",
]  # fmt: skip


def test_recipe_resumes_after_kill_reverifies_and_exports(tmp_path):
    records, _, _ = resume_after_kill(tmp_path, *ARGS, after_calls=1)
    files = [p for p in (tmp_path / "images").rglob("*") if p.is_file()]
    assert len(files) == 4 and not [p for p in files if ".tmp-" in p.name]
    checked = [r for r in records if r["response_type"] == "scene_qa"]
    assert len(checked) == 12  # 3 per scene
    teacher = [r for r in records if r["response_type"] != "scene_qa"]
    for record in records:
        assert (tmp_path / record["image"]).is_file()
        assert record["messages"][0]["role"] == "user" and record["messages"][-1]["content"]
    for record in teacher:
        assert record["_meta"]["request"] and "verification" not in record

    data = tmp_path / "data.jsonl"
    report = run_cli("verify", str(data), "--json", "--quiet", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["by_kind"]["scene_qa"] == {"checked": 12, "agreed": 12}
    corrupted = [dict(r) for r in records]
    victim = corrupted.index(checked[0])
    wrong = dict(corrupted[victim]["verification"])
    wrong["answer"] = {"Yes": "No", "No": "Yes"}.get(wrong["answer"], str(int(wrong["answer"]) + 1))
    corrupted[victim]["verification"] = wrong
    bad = write_jsonl(tmp_path / "corrupted.jsonl", corrupted)
    failed = run_cli("verify", str(bad), "--json", "--quiet", cwd=tmp_path)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["disagreements"] == [checked[0]["_meta"]["id"]]

    llava = tmp_path / "export" / "llava.json"
    done = run_cli("export", str(data), "--format", "llava", "-o", str(llava), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    items = json.loads(llava.read_text())
    assert len(items) == len(records)
    for item, record in zip(items, records, strict=True):
        assert (llava.parent / item["image"]).resolve() == (tmp_path / record["image"]).resolve()
        assert item["conversations"][0]["value"].startswith("<image>\n")
        assert [t["from"] for t in item["conversations"]][:2] == ["human", "gpt"]

    folder = tmp_path / "hf"
    for _ in range(2):  # the second export replaces the first's data folder
        done = run_cli(
            "export", str(data), "--format", "hf-images", "-o", str(folder), cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.glob("*hf*")) == ["hf"]  # no staging left
    assert [p.name for p in (folder / "data").iterdir()] == ["train-00000-of-00001.parquet"]
    shutil.rmtree(tmp_path / "images")  # the pictures travel inside the dataset
    loaded = datasets.load_dataset(str(folder), split="train")
    assert len(loaded) == len(records)
    first = loaded[0]
    assert first["images"][0].size == (scenes.WIDTH, scenes.HEIGHT)
    assert first["messages"][0]["content"][0]["type"] == "image"
    assert first["messages"][1]["content"][0]["text"] == records[0]["messages"][1]["content"]


def test_export_of_a_record_without_image_is_one_line_exit_2(tmp_path):
    data = write_jsonl(
        tmp_path / "plain.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}]
    )
    done = run_cli(
        "export", str(data), "--format", "llava", "-o", str(tmp_path / "x.json"), cwd=tmp_path
    )
    assert done.returncode == 2 and "plain.jsonl:1" in done.stderr and "image" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "x.json").exists()


def test_export_never_reads_an_image_outside_the_images_folder(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for a dataset")
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    for k, image in enumerate((str(secret), "../secret.png", "images/../secret.png")):
        folder = tmp_path / f"run{k}"
        folder.mkdir()
        data = write_jsonl(folder / "data.jsonl", [{"image": image, "messages": messages}])
        out = folder / "x.json"
        done = run_cli("export", str(data), "--format", "llava", "-o", str(out), cwd=folder)
        assert done.returncode == 2 and "data.jsonl:1" in done.stderr, done.stderr
        assert "not a path in images/" in done.stderr and not out.exists()
