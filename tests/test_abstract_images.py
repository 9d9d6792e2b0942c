"""Abstract images (Multimodal Self-Instruct): answers computed from the figures, the recipe
(no model) re-verified by `synthaug verify`, and a corrupted answer caught."""

from __future__ import annotations

import io
import json

from conftest import read_jsonl, run_cli, write_jsonl
from PIL import Image

from synthaug.media import abstract


def test_route_answers_are_shortest_paths():
    open_grid = {"size": 4, "start": [0, 0], "goal": [3, 3], "walls": []}
    assert abstract.shortest_path(open_grid) == 6
    detour = {**open_grid, "walls": [[1, 0], [1, 1], [1, 2]]}  # a wall with a gap at the bottom
    assert abstract.shortest_path(detour) == 6
    blocked = {**open_grid, "walls": [[1, 0], [1, 1], [1, 2], [1, 3]]}
    assert abstract.shortest_path(blocked) is None


def test_every_kind_is_made_again_from_its_seed_and_drawn():
    for kind in abstract.KINDS:
        made = abstract.make(kind, 12)
        assert made == abstract.make(kind, 12) and made["question"] and made["answer"]
        picture = Image.open(io.BytesIO(abstract.draw(made["spec"])))
        assert picture.size == (480, 360)
    flow = abstract.make("flowchart", 5)["spec"]
    value = flow["start"]
    for name, operand in flow["steps"]:
        value = {"add": value + operand, "subtract": value - operand}.get(name, value * operand)
    assert abstract.make("flowchart", 5)["answer"] == str(value)
    table = abstract.make("table", 3)
    totals = {
        str(sum(row[c] for row in table["spec"]["rows"]))
        for c in range(1, len(table["spec"]["header"]))
    }
    names = {row[0] for row in table["spec"]["rows"]}
    assert table["answer"] in totals | names


def test_recipe_reverifies_and_catches_a_corrupted_answer(tmp_path):
    out = tmp_path / "data.jsonl"
    done = run_cli("run", "abstract_images", "--set", "steps[0].params.count=8", "--out", str(out),
                   "--quiet", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = read_jsonl(out)
    assert {r["figure"] for r in records} == set(abstract.KINDS)
    assert all((tmp_path / r["image"]).is_file() for r in records)
    report = run_cli("verify", str(out), "--json", "--quiet", cwd=tmp_path)
    assert report.returncode == 0
    assert json.loads(report.stdout)["by_kind"]["abstract_image"] == {"checked": 8, "agreed": 8}
    records[2]["verification"]["answer"] += "0"
    bad = write_jsonl(tmp_path / "bad.jsonl", records)
    failed = run_cli("verify", str(bad), "--json", "--quiet", cwd=tmp_path)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["disagreements"] == [records[2]["_meta"]["id"]]
