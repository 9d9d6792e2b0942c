"""MixGen and the box-aware flip: pixels and boxes checked on drawn scenes, and the recipe run
(no model) twice with the same images, none duplicated."""

from __future__ import annotations

import io

from conftest import read_jsonl, run_cli
from PIL import Image

from synthaug.media import scene_questions, scenes
from synthaug.media.augment import hflip, interpolate


def _pixels(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_flip_moves_boxes_with_the_picture_and_keeps_answers_true():
    scene = scenes.make_scene(4, 3, 5)
    data, flipped = hflip(scenes.draw(scene), scene)
    picture = _pixels(data)
    for o in flipped["objects"]:
        x, y = scenes.center(o)
        assert picture.getpixel((int(x), int(y))) == scenes.COLORS[o["color"]]
    unique = [
        o
        for o in scene["objects"]
        if sum(scenes.name(p) == scenes.name(o) for p in scene["objects"]) == 1
    ]
    if len(unique) >= 2:
        args = {
            "first": scenes.name(unique[0]),
            "second": scenes.name(unique[1]),
            "relation": "left of",
        }
        before = scene_questions.answer(scene, "relation", args)
        after = scene_questions.answer(flipped, "relation", args)
        assert {before, after} == {"Yes", "No"}
    assert scene_questions.answer(flipped, "count", {"attributes": {"shape": "circle"}}) == (
        scene_questions.answer(scene, "count", {"attributes": {"shape": "circle"}})
    )


def test_interpolation_averages_the_two_pictures():
    red = Image.new("RGB", (8, 8), (200, 0, 0))
    blue = Image.new("RGB", (4, 4), (0, 0, 100))
    encoded = []
    for picture in (red, blue):
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    mixed = _pixels(interpolate(*encoded, lam=0.5))
    assert mixed.size == (8, 8) and mixed.getpixel((3, 3)) == (100, 0, 50)
    quarter = _pixels(interpolate(*encoded, lam=0.75))
    assert quarter.getpixel((0, 0)) == (150, 0, 25)


def test_recipe_mixes_pairs_and_reruns_the_same(tmp_path):
    args = ["run", "mixgen", "--set", "steps[0].params.count=4", "--set",
            "steps[2].params.batch_size=8", "--out", str(tmp_path / "data.jsonl"), "--quiet"]  # fmt: skip
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = read_jsonl(tmp_path / "data.jsonl")
    mixed = [r for r in records if "mixed_from" in r]
    assert len(records) == 8 + 2 and len(mixed) == 2  # 4 scenes + mirrors; M = 8 * 0.25
    by_id = {r["_meta"]["id"]: r for r in records}
    for record in mixed:
        first, second = (by_id[i] for i in record["mixed_from"])
        assert record["caption"] == f"{first['caption']} {second['caption']}"
        expected = interpolate((tmp_path / first["image"]).read_bytes(),
                               (tmp_path / second["image"]).read_bytes())  # fmt: skip
        assert (tmp_path / record["image"]).read_bytes() == expected
    files = sorted(p for p in (tmp_path / "images").rglob("*") if p.is_file())
    assert len(files) == len({r["image"] for r in records})
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and read_jsonl(tmp_path / "data.jsonl") == records
    assert sorted(p for p in (tmp_path / "images").rglob("*") if p.is_file()) == files
