"""``synthaug ingest`` on real documents (tests/fixtures/documents, copied from Debian packages;
licences in its LICENSES.md): pages and word coverage checked against an independent
extraction (pypdf for PDFs, an lxml walk for HTML), offsets, overlap, word boundaries,
duplicates, per-file errors and the exit code when nothing is readable."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

import lxml.html
import numpy as np
import pypdf
import pytest
from conftest import read_jsonl, run_cli

from synthaug.ingest import tokens
from synthaug.ingest.chunking import chunk_spans
from synthaug.ingest.extract import extract
from synthaug.ingest.tokens import TokenCounter, load_tokenizer
from synthaug.io import read_records

DOCUMENTS = Path(__file__).parent / "fixtures" / "documents"
PDFS = sorted(DOCUMENTS.glob("*.pdf"))
HTMLS = sorted(DOCUMENTS.glob("*.html"))
CHUNK, OVERLAP = 128, 24
WORD = re.compile(r"\w+")


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def lxml_text(path: Path) -> str:
    """Every text node outside head/script/style, space-joined: independent of trafilatura."""
    tree = lxml.html.fromstring(path.read_bytes())
    for element in tree.xpath("//head|//script|//style"):
        element.drop_tree()
    return " ".join(tree.itertext())


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """One CLI run over the folder of real documents plus a copy of one (a duplicate)."""
    work = tmp_path_factory.mktemp("ingest")
    docs = work / "docs"
    shutil.copytree(DOCUMENTS, docs, ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(DOCUMENTS / "libtasn1.pdf", docs / "zz-copy.pdf")  # read after the original
    out = work / "chunks.jsonl"
    args = [str(docs), "-o", str(out), "--chunk-tokens", str(CHUNK)]
    result = run_cli("ingest", *args, "--overlap-tokens", str(OVERLAP), cwd=work)
    assert result.returncode == 0, result.stderr
    rows = read_jsonl(out)
    by_path = defaultdict(list)
    for row in rows:
        by_path[Path(row["source"]["path"]).name].append(row)
    return result, rows, by_path


def test_every_document_is_read_once_and_the_copy_is_a_duplicate(ingested):
    result, rows, by_path = ingested
    names = {p.name for p in PDFS + HTMLS}
    assert set(by_path) == names
    assert "5 documents, 56 pages" in result.stdout and "skipped 1 duplicate" in result.stdout
    duplicate = [line for line in result.stderr.splitlines() if "same text as" in line]
    assert len(duplicate) == 1 and "zz-copy.pdf: same text as" in duplicate[0]
    assert len({row["chunk_id"] for row in rows}) == len(rows)
    assert len({row["doc_id"] for row in rows}) == len(names)


@pytest.mark.parametrize("pdf", PDFS, ids=lambda p: p.name)
def test_pdf_pages_are_right_and_chunks_cover_the_words(ingested, pdf):
    _, _, by_path = ingested
    chunks = by_path[pdf.name]
    reference = [page.extract_text() for page in pypdf.PdfReader(pdf).pages]  # independent
    pages = {row["source"]["page"] for row in chunks}
    assert pages <= set(range(1, len(reference) + 1))
    assert pages == {i + 1 for i, text in enumerate(reference) if words(text)}
    for row in chunks:
        own = words(row["text"])
        page_words = words(reference[row["source"]["page"] - 1])
        assert len(own & page_words) >= 0.95 * len(own), row["source"]
    covered = set().union(*(words(row["text"]) for row in chunks))
    wanted = set().union(*map(words, reference))
    assert len(covered & wanted) >= 0.95 * len(wanted)
    for number, text in enumerate(reference, start=1):  # and page by page
        on_page = set().union(
            set(), *(words(r["text"]) for r in chunks if r["source"]["page"] == number)
        )
        assert len(on_page & words(text)) >= 0.95 * len(words(text)), number


@pytest.mark.parametrize("html", HTMLS, ids=lambda p: p.name)
def test_html_chunks_cover_the_words_of_an_lxml_walk(ingested, html):
    _, _, by_path = ingested
    chunks = by_path[html.name]
    assert {row["source"]["page"] for row in chunks} == {None}
    covered = set().union(*(words(row["text"]) for row in chunks))
    wanted = words(lxml_text(html))
    assert len(covered & wanted) >= 0.95 * len(wanted)


def test_offsets_round_trip_and_chunks_overlap_on_word_boundaries(ingested):
    _, _, by_path = ingested
    tokenizer = load_tokenizer()
    for name, chunks in by_path.items():
        pages = {page.number: page.text for page in extract(DOCUMENTS / name)}
        previous = None
        for row in chunks:
            source = row["source"]
            text = pages[source["page"]]
            start, end = source["start"], source["end"]
            assert text[start:end] == row["text"]
            assert start == 0 or text[start - 1].isspace()  # never inside a word
            assert end == len(text) or text[end].isspace()
            counted = len(tokenizer.encode(row["text"], add_special_tokens=False).ids)
            assert row["tokens"] == counted  # exact: the chunk's text encoded alone
            assert counted <= CHUNK or len(row["text"].split()) == 1
            if previous is not None and previous["source"]["page"] == source["page"]:
                assert previous["source"]["start"] < start < previous["source"]["end"] < end
                shared = text[start : previous["source"]["end"]]
                assert 0 < len(tokenizer.encode(shared, add_special_tokens=False).ids) <= OVERLAP
            previous = row


def test_other_formats_docx_markdown_text_and_parquet_output(tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("Grounded data starts from documents.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "format", "DOCX"
    document.add_paragraph("The last paragraph follows the table.")
    document.save(tmp_path / "note.docx")
    markdown = sorted((Path(__file__).parent.parent / "docs").glob("*.md"))[0]  # a real one
    shutil.copy(markdown, tmp_path / "guide.md")
    (tmp_path / "plain.txt").write_text("caf\u00e9 na\u00efve r\u00e9sum\u00e9\r\nsecond line\n")
    out = tmp_path / "out" / "chunks.parquet"
    result = run_cli("ingest", str(tmp_path), "-o", str(out), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {Path(r["source"]["path"]).name: r for r in read_records(out)}
    assert rows["note.docx"]["text"] == (
        "Grounded data starts from documents.\nformat\tDOCX\nThe last paragraph follows the table."
    )
    assert rows["plain.txt"]["text"] == "caf\u00e9 na\u00efve r\u00e9sum\u00e9\nsecond line"
    guide, source = markdown.read_text(encoding="utf-8"), rows["guide.md"]["source"]
    assert rows["guide.md"]["text"] == guide[source["start"] : source["end"]]


def write_encrypted(path: Path) -> None:
    writer = pypdf.PdfWriter(clone_from=PDFS[0])
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    with open(path, "wb") as handle:
        writer.write(handle)


def test_unreadable_files_are_reported_one_line_each_and_skipped(tmp_path):
    write_encrypted(tmp_path / "locked.pdf")
    (tmp_path / "broken.pdf").write_bytes(PDFS[0].read_bytes()[:2000])
    (tmp_path / "empty.html").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    shutil.copy(HTMLS[0], tmp_path / "good.html")
    out = tmp_path / "chunks.jsonl"
    named = [str(tmp_path), str(tmp_path / "missing.md"), str(DOCUMENTS / "LICENSES.md")]
    result = run_cli("ingest", *named, "-o", str(out), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    expected = {
        "locked.pdf": "encrypted PDF",
        "broken.pdf": "not a readable PDF",
        "empty.html": "empty file",
        "latin1.txt": "not UTF-8 text",
        "missing.md": "no such file or directory",
    }
    assert len(lines) == len(expected), lines
    for name, reason in expected.items():
        assert [line for line in lines if f"{name}: {reason}" in line], (name, lines)
    assert {Path(r["source"]["path"]).name for r in read_jsonl(out)} == {"LICENSES.md", "good.html"}
    assert "skipped 5 unreadable" in result.stdout


def test_nothing_readable_exits_2_and_writes_nothing(tmp_path):
    write_encrypted(tmp_path / "locked.pdf")
    (tmp_path / "empty.txt").write_text("  \n")
    out = tmp_path / "chunks.jsonl"
    result = run_cli("ingest", str(tmp_path), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"synthaug: error: {tmp_path}: no document could be read"
    assert sum("(skipped)" in line for line in lines) == 2 and "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".chunks.jsonl.tmp*"))


def test_bad_options_and_outputs_are_one_line(tmp_path):
    help_text = run_cli("ingest", "--help", cwd=tmp_path)
    assert help_text.returncode == 0 and "--chunk-tokens" in help_text.stdout
    bad = run_cli(
        "ingest",
        str(HTMLS[0]),
        "-o",
        "x.jsonl",
        "--chunk-tokens",
        "64",
        "--overlap-tokens",
        "64",
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        == "synthaug: error: --overlap-tokens must be smaller than --chunk-tokens"
    )
    (tmp_path / "file").write_text("x")
    blocked = run_cli(
        "ingest", str(HTMLS[0]), "-o", str(tmp_path / "file" / "c.jsonl"), cwd=tmp_path
    )
    assert blocked.returncode == 2 and len(blocked.stderr.strip().splitlines()[-1:]) == 1
    assert "cannot write the output" in blocked.stderr and "Traceback" not in blocked.stderr
    csv = run_cli("ingest", str(HTMLS[0]), "-o", "c.csv", cwd=tmp_path)
    assert csv.returncode == 2 and "cannot write format" in csv.stderr


def test_token_counts_up_to_each_word_match_the_page_encoded_whole():
    """The memoised pieces give, at every word's end, the count of the page's own tokens."""
    tokenizer = load_tokenizer()
    counter = TokenCounter(tokenizer)
    for path in PDFS + HTMLS:
        for page in extract(path):
            words, through = counter.page(page.text)
            assert words.tolist() == [list(m.span()) for m in re.finditer(r"\S+", page.text)]
            encoding = tokenizer.encode(page.text, add_special_tokens=False)
            ends = np.array([end for _, end in encoding.offsets])
            assert through.tolist() == np.searchsorted(ends, words[:, 1], "right").tolist()
    assert len(counter.known) > 1000  # pieces remembered across pages


def test_a_full_memo_starts_over_and_still_counts_every_piece(monkeypatch):
    monkeypatch.setattr(tokens, "REMEMBERED", 4)
    tokenizer = load_tokenizer()
    counter = TokenCounter(tokenizer)
    for pieces in (["Grounded", " data", " starts"], [" data", " d\u00e9j\u00e0", " vu", " 2026"]):
        expected = [len(tokenizer.encode(p, add_special_tokens=False).ids) for p in pieces]
        assert counter.counts(pieces).tolist() == expected
    assert set(counter.known) == {" data", " d\u00e9j\u00e0", " vu", " 2026"}  # started over


def test_chunk_bounds_overlap_and_a_word_longer_than_a_chunk():
    text = "alpha beta " + "x" * 50 + " gamma delta epsilon"
    words = np.array([m.span() for m in re.finditer(r"\S+", text)])
    in_place, alone = [1, 1, 9, 1, 1, 1], [1, 1, 10, 1, 1, 1]
    through = np.cumsum(in_place)

    def cut(first: int, max_tokens: int, overlap: int) -> list[tuple[str, int]]:
        spans = chunk_spans(
            words[first:],
            through[first:],
            lambda i: alone[first + i],
            max_tokens=max_tokens,
            overlap=overlap,
        )
        return [(text[s.start : s.end], s.tokens) for s in spans]

    assert cut(0, 3, 1) == [
        ("alpha beta", 2),
        ("x" * 50, 10),  # a word longer than a chunk stands alone, whole, without overlap
        ("gamma delta epsilon", 3),  # no overlap: "x..." and "gamma" would not fit in 3 tokens
    ]
    assert cut(3, 2, 1) == [("gamma delta", 2), ("delta epsilon", 2)]
    assert cut(0, 3, 0) == cut(0, 3, 1)
    # a chunk's first word counts alone: "x..." alone (10) no longer fits in 10 with "gamma"
    assert cut(2, 10, 1) == [("x" * 50, 10), ("gamma delta epsilon", 3)]
    assert cut(2, 11, 1) == [("x" * 50 + " gamma", 11), ("gamma delta epsilon", 3)]
    assert chunk_spans(np.zeros((0, 2), int), np.zeros(0, int), alone.__getitem__, 3, 1) == []
