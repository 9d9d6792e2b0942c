"""GLAN: taxonomy parsing on recorded outputs, and expansion + homework on the embedded model."""

from __future__ import annotations

import yaml
from conftest import (
    read_jsonl,
    resume_after_kill,
    run_cli,
    run_recipe_twice,
)

from synthaug.engine.step import StepContext
from synthaug.methods.instruct.glan import (
    Taxonomy,
    dump_taxonomy,
    load_taxonomy,
    parse_question,
    parse_subjects,
    parse_syllabus,
    syllabus_schema,
)

# recorded from SmolLM2-135M under the subjects, syllabus and question schemas
SUBJECTS = '{\n    "subjects": [\n        "chemology","calculation"\n    ]\n}'
SYLLABUS_TIMESTAMPS = (
    '{\n  "sessions": [\n    {\n      "session": "2024-10-21T07:01:13.11.22.23.6.6.7.8",\n'
    '      "concepts": [\n        "2024-10-21T07:01:13.11.22.23.6.7.8.10.0.",\n'
    '      "2024-10-21T07:01:13.11.22.23.6.7.10.0.1."]\n    }\n  ]\n}'
)
SYLLABUS = (
    '{\n  "sessions": [\n    {\n      "session": "The First Class",\n      "concepts": [\n'
    '        "The Algebra of Mathematics","2023-02-04 14:54:59.710998959-1111869872"\n'
    '      ]\n    },\n    {\n      "session": "The Second Class",\n      "concepts": [\n'
    '        "The Calculus of Mathematics","2023-02-04 14:54:59.929999999-1111869969"\n'
    "      ]\n    }\n  ]\n}"
)
QUESTION = (
    '{\n    "question": "What are Pythagorean triples? Can you give a sample of how you can use '
    'these concepts to create triangles and use them in your geometry class?"\n}'
)


def test_parse_recorded_expansion_replies():
    assert parse_subjects(SUBJECTS) == ["chemology", "calculation"]
    assert parse_subjects('{"subjects": ["Optics", " optics ", ""]}') == ["Optics"]
    assert parse_subjects('{"subjects": ["Opt') == []  # cut off
    assert parse_syllabus(SYLLABUS) == [
        {"session": "The First Class", "concepts": ["The Algebra of Mathematics"]},
        {"session": "The Second Class", "concepts": ["The Calculus of Mathematics"]},
    ]
    assert parse_syllabus(SYLLABUS_TIMESTAMPS) == []  # timestamps are not session titles
    assert parse_question(QUESTION).startswith("What are Pythagorean triples?")
    assert parse_question('{\n  "question": "  " }') is None
    schema = syllabus_schema(3, 2)["properties"]["sessions"]
    assert schema["minItems"] == 3 == schema["maxItems"]
    assert schema["items"]["properties"]["concepts"]["maxItems"] == 2


def test_taxonomy_file_round_trip_keeps_missing_levels_missing(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "disciplines:\n  - Chemistry\n  - name: Maths\n    subjects:\n      - Algebra\n"
        "      - name: Geometry\n        syllabus:\n          - session: Triangles\n"
        "            concepts: [angle sum, E=mc^2]\n",
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(str(path))
    assert taxonomy[0] == {"name": "Chemistry", "subjects": None}
    assert taxonomy[1]["subjects"][0] == {"name": "Algebra", "syllabus": None}
    assert taxonomy[1]["subjects"][1]["syllabus"][0]["concepts"] == ["angle sum", "E=mc^2"]
    again = tmp_path / "again.yaml"
    again.write_text(dump_taxonomy(taxonomy), encoding="utf-8")
    assert load_taxonomy(str(again)) == taxonomy
    assert "subjects" not in yaml.safe_load(again.read_text())["disciplines"][0]


def test_bundled_taxonomy_and_seeded_homework_specs():
    taxonomy = load_taxonomy(None)
    assert len(taxonomy) == 5 and taxonomy[1] == {"name": "Physics", "subjects": None}
    algebra, probability = taxonomy[0]["subjects"]
    assert probability["syllabus"] is None and len(algebra["syllabus"]) == 2
    step = Taxonomy(max_sessions=2)
    ctx = StepContext(llm=None, run_seed=0, step_name="taxonomy")
    specs = [step.homework_spec("Mathematics", algebra, n, ctx) for n in range(40)]
    assert specs == [step.homework_spec("Mathematics", algebra, n, ctx) for n in range(40)]
    concepts = {c for session in algebra["syllabus"] for c in session["concepts"]}
    assert {len(spec["glan_session"]) for spec in specs} == {1, 2}
    assert all(spec["glan_concepts"] and set(spec["glan_concepts"]) <= concepts for spec in specs)
    assert step.homework_spec("Mathematics", probability, 0, ctx) is None  # not expanded


TAXONOMY = """\
disciplines:
  - name: Chemistry
  - name: Mathematics
    subjects:
      - name: Geometry
        syllabus:
          - session: Triangles
            concepts: [angle sum, Pythagorean theorem]
"""
SMALL = [
    "--set",
    "steps[0].params.subjects_per_discipline=2",
    "--set",
    "steps[0].params.sessions_per_subject=1",
    "--set",
    "steps[0].params.concepts_per_session=2",
    "--set",
    "steps[0].params.questions_per_subject=1",
    "--set",
    "steps[0].params.max_tokens=160",
    "--set",
    "steps[1].params.max_tokens=64",
    "--set",
    "steps[1].params.answer_max_tokens=40",
]


def test_glan_expansion_resumes_after_kill_and_written_taxonomy_feeds_back(tmp_path):
    (tmp_path / "taxonomy.yaml").write_text(TAXONOMY, encoding="utf-8")
    args = ["glan", "--set", "steps[0].params.path=taxonomy.yaml", *SMALL]
    records, summary, _ = resume_after_kill(tmp_path, *args, after_calls=2)
    written = load_taxonomy(str(tmp_path / "runs/glan/taxonomy.yaml"))
    assert written[1]["subjects"][0]["syllabus"][0]["session"] == "Triangles"  # human level kept
    by_subject = {s["name"]: s for d in written for s in d["subjects"] or []}
    for record in records:
        subject = by_subject[record["glan_subject"]]
        titles = {s["session"] for s in subject["syllabus"]}
        assert set(record["glan_session"]) <= titles and record["glan_concepts"]
        assert record["instruction"] and record["output"]
        assert record["messages"][1]["content"] == record["output"]
        assert record["_meta"]["method"] == "glan.homework" and record["_meta"]["parents"]
        assert len(record["_meta"]["request"]) == 2
    failed = read_jsonl(tmp_path / "data.errors.jsonl") if summary["error_records"] else []
    assert all(r["_meta"]["error"]["kind"] == "unparseable_question" for r in failed)
    geometry = [r for r in records + failed if r["glan_subject"] == "Geometry"]
    assert geometry and set(geometry[0]["glan_concepts"]) <= {"angle sum", "Pythagorean theorem"}
    # the reviewed taxonomy fed back: nothing left to expand, same homework requests
    fed_back = run_recipe_twice(
        tmp_path, "glan", "--set", "steps[0].params.path=runs/glan/taxonomy.yaml", *SMALL
    )
    assert [r["instruction"] for r in fed_back] == [r["instruction"] for r in records]


def test_bad_params_and_bad_taxonomy_exit_2(tmp_path):
    bad = run_cli("run", "glan", "--set", "steps[0].params.max_sessions=0", cwd=tmp_path)
    assert bad.returncode == 2 and "steps[0].params.max_sessions" in bad.stderr
    (tmp_path / "t.yaml").write_text("disciplines:\n  - name: Maths\n    subjects: 3\n")
    broken = run_cli("run", "glan", "--set", "steps[0].params.path=t.yaml", cwd=tmp_path)
    assert broken.returncode == 2
    assert "t.yaml: field 'disciplines[0].subjects': must be a list" in broken.stderr
