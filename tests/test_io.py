"""Readers, atomic writers and ``describe`` on real files in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from synthaug.errors import InputError
from synthaug.io import AtomicWriter, count_records, read_records, write_records
from synthaug.io.inspect import describe, render

ROWS = [
    {
        "instruction": "Say hi",
        "output": "hi ✓",
        "n": 1,
        "_meta": {"id": "a1", "step": "load", "method": "load", "parents": []},
    },
    {
        "instruction": "Add",
        "output": "2",
        "n": 2,
        "_meta": {"id": "b2", "step": "gen", "method": "self_instruct", "parents": ["a1"]},
    },
]


def input_error(path: Path, **kwargs) -> str:
    """The one-line message of the InputError that reading ``path`` raises."""
    with pytest.raises(InputError) as caught:
        list(read_records(path, **kwargs))
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(str(path))
    return message


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def write_hf_folder(folder: Path, shards: list[list[dict]]) -> Path:
    """A ``save_to_disk`` folder built by hand: Arrow IPC stream shards plus state.json."""
    folder.mkdir(parents=True)
    names = [f"data-{i:05d}-of-{len(shards):05d}.arrow" for i in range(len(shards))]
    for name, rows in zip(names, shards, strict=True):
        table = pa.Table.from_pylist(rows)
        with (
            pa.OSFile(str(folder / name), "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as writer,
        ):
            writer.write_table(table)
    # list the shards in reverse name order: the reader must follow state.json, not names
    state = {"_data_files": [{"filename": name} for name in reversed(names)], "_split": None}
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {}}))
    return folder


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.jsonl", "out.ndjson", "out.parquet"])
def test_atomic_writer_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / "nested" / "dir" / name
    with AtomicWriter(path) as writer:
        writer.write(ROWS[0])
        writer.write_many(ROWS[1:])
    assert writer.count == 2
    assert list(read_records(path)) == ROWS
    assert count_records(path) == 2
    assert sorted(p.name for p in path.parent.iterdir()) == [name]


def test_jsonl_is_utf8_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert write_records(path, iter(ROWS)) == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == [json.dumps(row, ensure_ascii=False) for row in ROWS]
    assert "✓" in lines[0]


def test_jsonl_skips_blank_lines_and_counts_records(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.jsonl", b'\n{"a": 1}\n  \n\r\n{"a": 2}\n\n')
    assert list(read_records(path)) == [{"a": 1}, {"a": 2}]
    assert count_records(path) == 2


def test_forced_format_ignores_extension(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.txt", b'{"a": 1}\n')
    assert list(read_records(path, fmt="jsonl")) == [{"a": 1}]
    assert count_records(path, fmt="jsonl") == 1


def test_parquet_mixed_and_empty_dict_columns_stored_as_json(tmp_path: Path) -> None:
    rows = [
        {"mixed": 1, "empty": {}, "tags": ["x"], "_meta": {"id": "1", "step": "load"}},
        {"mixed": "two", "empty": {}, "tags": [], "_meta": {"id": "2", "step": "load"}},
        {"mixed": [3], "empty": {}, "tags": ["y", "z"], "_meta": {"id": "3", "step": "load"}},
    ]
    path = tmp_path / "out.parquet"
    write_records(path, rows)
    assert list(read_records(path)) == rows
    assert count_records(path) == 3


def test_parquet_missing_keys_read_back_as_null(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    write_records(path, [{"a": 1, "_meta": {"id": "x"}}, {"b": "y", "_meta": {"step": "s"}}])
    assert list(read_records(path)) == [
        {"a": 1, "_meta": {"id": "x", "step": None}, "b": None},
        {"a": None, "_meta": {"id": None, "step": "s"}, "b": "y"},
    ]


def test_parquet_with_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    assert write_records(path, []) == 0
    assert list(read_records(path)) == []
    assert count_records(path) == 0


def test_csv_by_hand(tmp_path: Path) -> None:
    text = 'instruction,output\r\n"Say ""hi""","line one\nline two"\n\nAdd,2\nshort\n'
    path = write_bytes(tmp_path / "d.csv", b"\xef\xbb\xbf" + text.encode())
    assert list(read_records(path)) == [
        {"instruction": 'Say "hi"', "output": "line one\nline two"},
        {"instruction": "Add", "output": "2"},
        {"instruction": "short"},
    ]
    assert count_records(path) is None


def test_json_array_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(ROWS, indent=2, ensure_ascii=False), encoding="utf-8")
    assert list(read_records(path)) == ROWS
    assert list(read_records(write_bytes(tmp_path / "e.json", b" [ ] \n"))) == []


def test_hf_folder_follows_state_json_order(tmp_path: Path) -> None:
    folder = write_hf_folder(tmp_path / "ds", [[{"a": 1}, {"a": 2}], [{"a": 3}]])
    assert list(read_records(folder)) == [{"a": 3}, {"a": 1}, {"a": 2}]
    assert list(read_records(folder, fmt="hf", required=["a"])) == [{"a": 3}, {"a": 1}, {"a": 2}]
    assert count_records(folder) == 3


@pytest.mark.parametrize(("splits", "expected"), [(["test", "train"], 2), (["valid", "x"], 0)])
def test_hf_dataset_dict_reads_train_or_first_split(
    tmp_path: Path, splits: list[str], expected: int
) -> None:
    root = tmp_path / "dd"
    for index, split in enumerate(splits):
        write_hf_folder(root / split, [[{"split": index * 2}]])
    (root / "dataset_dict.json").write_text(json.dumps({"splits": splits}))
    assert list(read_records(root)) == [{"split": expected}]
    assert count_records(root) == 1


# -- atomic writes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet"])
def test_atomic_writer_leaves_nothing_on_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(RuntimeError, match="boom"), AtomicWriter(path) as writer:
        writer.write(ROWS[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_writer_keeps_old_file_on_error(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_records(path, ROWS)
    before = path.read_bytes()
    records = (row if i < 1 else 1 / 0 for i, row in enumerate(ROWS * 3))
    with pytest.raises(ZeroDivisionError):
        write_records(path, records)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_writer_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"out\.csv: cannot write format '\.csv'"):
        AtomicWriter(tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []


# -- bad input -------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    assert input_error(path) == f"{path}: no such file or directory"
    with pytest.raises(InputError, match="no such file"):
        count_records(path)


def test_plain_directory(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    assert input_error(tmp_path / "dir").endswith("dir: is a directory, not a data file")


@pytest.mark.parametrize("name", ["e.jsonl", "e.json", "e.csv", "e.parquet"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    assert input_error(write_bytes(tmp_path / name, b"")).endswith(f"{name}: file is empty")


@pytest.mark.parametrize(("name", "data"), [("b.jsonl", b"\n \n"), ("b.csv", b"\r\n\n")])
def test_blank_only_file(tmp_path: Path, name: str, data: bytes) -> None:
    message = input_error(write_bytes(tmp_path / name, data))
    assert message.endswith(f"{name}: file is empty (only blank lines)")


def test_unknown_extension(tmp_path: Path) -> None:
    message = input_error(write_bytes(tmp_path / "d.xyz", b"x"))
    assert message.endswith(
        "d.xyz: unknown format '.xyz': use .jsonl, .json, .csv, .parquet or a datasets folder"
    )
    assert "(no extension)" in input_error(write_bytes(tmp_path / "noext", b"x"))
    assert "unknown format 'tsv'" in input_error(tmp_path / "noext", fmt="tsv")


def test_malformed_jsonl_line(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.jsonl", b'{"a": 1}\n\n{"a": 1 "b": 2}\n')
    assert input_error(path).endswith(
        "d.jsonl:3: malformed JSON (Expecting ',' delimiter, column 9)"
    )


def test_jsonl_line_not_an_object(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.jsonl", b'{"a": 1}\n[1, 2]\n')
    assert input_error(path).endswith("d.jsonl:2: expected a JSON object, got an array")


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        ("u.jsonl", b'{}\n{"a":"\xff"}\n', "u.jsonl:2: not valid UTF-8 (byte 0xff at column 7)"),
        ("u.csv", b"a,b\nx,y\n\nz,\xc3(\n", "u.csv:4: not valid UTF-8 (byte 0xc3 at column 3)"),
        ("u.json", b'[\n{},\n{"a":"\xfe"}]', "u.json:3: not valid UTF-8 (byte 0xfe at column 7)"),
    ],
)
def test_invalid_utf8(tmp_path: Path, name: str, data: bytes, where: str) -> None:
    assert input_error(write_bytes(tmp_path / name, data)).endswith(where)


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        ("r.jsonl", b'{"instruction": "x", "output": ""}\n\n{"output": "y"}\n', "r.jsonl:3"),
        ("r.csv", b'instruction,output\nx,y\n"multi\nline",z\nw\n', "r.csv:5"),
        ("r.json", b'[{"instruction": "x", "output": 1},\n\n  {"instruction": "y"}]', "r.json:3"),
    ],
)
def test_missing_required_field(tmp_path: Path, name: str, data: bytes, where: str) -> None:
    message = input_error(write_bytes(tmp_path / name, data), required=["instruction", "output"])
    missing = "instruction" if name == "r.jsonl" else "output"
    assert message.endswith(f"{where}: field '{missing}': missing required field")


def test_required_field_in_parquet_and_hf(tmp_path: Path) -> None:
    parquet = tmp_path / "r.parquet"
    write_records(parquet, [{"a": 1, "b": 2}, {"a": 3, "b": None}])
    assert input_error(parquet, required=["b"]).endswith(
        "r.parquet:2: field 'b': required field is null"
    )
    assert input_error(parquet, required=["c"]).endswith(
        "r.parquet:1: field 'c': missing required field"
    )
    folder = write_hf_folder(tmp_path / "ds", [[{"a": 1}], [{"a": None}]])
    assert input_error(folder, required=["a"]).endswith("ds:1: field 'a': required field is null")


def test_csv_row_with_too_many_cells(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", b"a,b\n1,2\n1,2,3\n")
    assert input_error(path).endswith("d.csv:3: row has 3 cells but the header has 2 columns")


def test_csv_duplicate_header(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", b"\na,b,a\n1,2,3\n")
    assert input_error(path).endswith("d.csv:2: duplicate column 'a' in the header row")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'{"a": 1}', "d.json: expected a top-level JSON array of objects, got an object"),
        (b'[{"a": 1},\n "x"]', "d.json:2: expected an array of objects, got a string"),
        (b'[{"a": 1},\n\n {"a": }]', "d.json:3: malformed JSON (Expecting value, column 8)"),
        (b'[{"a": 1}\n {"a": 2}]', "d.json:2: malformed JSON (Expecting ',' delimiter, column 2)"),
        (b'[{"a": 1}] x', "d.json:1: malformed JSON (Extra data after the array, column 12)"),
        (b'[{"a": 1}', "d.json:1: malformed JSON (Expecting ',' delimiter, column 10)"),
        (b"  \n ", "d.json: file is empty"),
    ],
)
def test_bad_json_array(tmp_path: Path, data: bytes, where: str) -> None:
    assert input_error(write_bytes(tmp_path / "d.json", data)).endswith(where)


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.parquet", b"PAR1 this is not parquet at all")
    assert "d.parquet: not a valid Parquet file (" in input_error(path)
    with pytest.raises(InputError, match="not a valid Parquet file"):
        count_records(path)


def test_corrupt_hf_folder(tmp_path: Path) -> None:
    folder = write_hf_folder(tmp_path / "ds", [[{"a": 1}]])
    shard = folder / "data-00000-of-00001.arrow"
    shard.write_bytes(shard.read_bytes()[:20])
    assert "data-00000-of-00001.arrow: not a valid Arrow stream file (" in input_error(folder)
    shard.unlink()
    assert input_error(folder).endswith("data file listed in state.json is missing")
    (folder / "state.json").write_text("{oops")
    assert "state.json:1: malformed JSON (Expecting property name" in input_error(folder)
    (folder / "state.json").unlink()
    assert input_error(folder).endswith("ds: is a directory, not a data file")
    assert input_error(folder, fmt="hf").endswith(
        "ds: not a Hugging Face datasets folder (no state.json)"
    )


# -- describe / render -----------------------------------------------------------------------


def test_describe_and_render(tmp_path: Path) -> None:
    rows = [
        *ROWS,
        {
            "instruction": "x" * 500,
            "output": None,
            "n": 2.5,
            "_meta": {
                "id": "c3",
                "step": "gen",
                "method": "self_instruct",
                "model": "smol",
                "error": {"kind": "timeout", "message": "took too long"},
            },
        },
    ]
    path = tmp_path / "d.jsonl"
    write_records(path, rows)
    info = describe(path, sample=3)
    assert info["path"] == str(path) and info["format"] == "jsonl" and info["rows"] == 3
    assert info["columns"] == {
        "instruction": {"present": 3, "types": {"str": 3}},
        "output": {"present": 2, "types": {"str": 2, "null": 1}},
        "n": {"present": 3, "types": {"int": 2, "float": 1}},
    }
    assert info["meta"] == {
        "steps": {"gen": 2, "load": 1},
        "methods": {"self_instruct": 2, "load": 1},
        "models": {"smol": 1},
        "errors": {"timeout": 1},
    }
    assert info["sample"][:2] == ROWS
    assert len(info["sample"][2]["instruction"]) == 200
    json.dumps(info)

    text = render(info)
    assert text.splitlines()[0] == f"{path}  (jsonl, 3 rows)"
    assert "output       " in text and "str 2, null 1" in text
    assert "steps:   gen 2, load 1" in text and "errors:  timeout 1" in text
    assert '"instruction": "Say hi"' in text
