"""Document ingest and BM25 retrieval: parser choice, throughput against the parsers called
directly, queries/s against bm25s called directly.

Documents: the real PDFs and HTML pages of ``tests/fixtures/documents`` (Debian docs; 2 PDFs,
53 pages, 3 HTML pages).

(1) Parser choice. PDF: ``pypdf`` vs ``pypdfium2``, each one's distinct words found by the
    other (coverage), and time. HTML: trafilatura ``html2txt`` (synthaug's ``full``) and
    ``extract`` (``main``) and justext, coverage of the words of an independent lxml walk
    (every text node outside head/script/style), and time.
(2) Ingest throughput: ``synthaug.ingest`` (parse, count tokens exactly with the GGUF
    tokenizer, chunk, hash, dedup; parsing, counting and cutting overlap in three threads) over
    the documents, ``--rounds`` times, a fresh ingest each, vs the chosen parser alone (pdfium
    text per page; trafilatura html2txt). Wall and CPU seconds (all threads), pages/s, MB/s;
    target >= 0.9x the parser. Then what the counting costs alone: with a fresh memo (as in
    each ingest), with every piece seen before (what a long ingest tends to), and the pages
    encoded whole instead.
(3) BM25: ``BM25Index.search`` vs bm25s ``tokenize`` + ``retrieve`` called directly, the
    same queries over the chunks repeated to ``--corpus`` chunks; queries/s.
(4) Tokenizer: the token ids of synthaug's GGUF tokenizer vs transformers' own GGUF
    conversion (``AutoTokenizer.from_pretrained(..., gguf_file=...)``, the ``prefs`` extra) on
    every page; and the load time, first (from the GGUF) and cached.

    python benchmarks/bench_ingest.py [--rounds 5] [--corpus 20000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bm25s
import justext
import lxml.html
import numpy as np
import pypdf
import pypdfium2 as pdfium
import trafilatura

from synthaug.ingest.corpus import ChunkingParams, IngestStats, ingest
from synthaug.ingest.extract import extract
from synthaug.ingest.tokens import TokenCounter, load_tokenizer
from synthaug.retrieval import BM25Index

DOCUMENTS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "documents"
PDFS = sorted(DOCUMENTS.glob("*.pdf"))
HTMLS = sorted(DOCUMENTS.glob("*.html"))
WORD = re.compile(r"\w+")


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def coverage(found: str, reference: str) -> float:
    wanted = words(reference)
    return len(words(found) & wanted) / max(len(wanted), 1)


def best_time(run: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def best_wall_and_cpu(run: Callable[[], Any], repeat: int = 3) -> tuple[float, float, Any]:
    """The fastest of ``repeat`` runs: wall seconds, CPU seconds (all threads), the result."""
    best, cpu, result = float("inf"), 0.0, None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    return best, cpu, result


def pypdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def pdfium_pages(path: Path) -> list[str]:
    document = pdfium.PdfDocument(path)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def lxml_text(data: bytes) -> str:
    tree = lxml.html.fromstring(data)
    for element in tree.xpath("//head|//script|//style"):
        element.drop_tree()
    return " ".join(tree.itertext())


def justext_text(data: bytes) -> str:
    paragraphs = justext.justext(data, justext.get_stoplist("English"))
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


def parser_choice() -> None:
    print("\n(1) parser choice: coverage of distinct words, best of 3 times")
    print("| document | parser | ms | coverage |")
    print("|---|---|---:|---:|")
    for path in PDFS:
        t_pypdf, by_pypdf = best_time(lambda p=path: pypdf_text(p))
        t_pdfium, pages = best_time(lambda p=path: pdfium_pages(p))
        by_pdfium = "\n".join(pages)
        print(
            f"| {path.name} | pypdf | {t_pypdf * 1e3:.0f} | {coverage(by_pypdf, by_pdfium):.4f} of pdfium's |"
        )
        print(
            f"| {path.name} | pypdfium2 | {t_pdfium * 1e3:.0f} | {coverage(by_pdfium, by_pypdf):.4f} of pypdf's |"
        )
    for path in HTMLS:
        data = path.read_bytes()
        reference = lxml_text(data)
        candidates = {
            "trafilatura html2txt (full)": lambda d=data: trafilatura.html2txt(d),
            "trafilatura extract (main)": lambda d=data: (
                trafilatura.extract(d, favor_recall=True, include_tables=True) or ""
            ),
            "justext": lambda d=data: justext_text(d),
        }
        for name, run in candidates.items():
            seconds, text = best_time(run)
            print(
                f"| {path.name} | {name} | {seconds * 1e3:.1f} | {coverage(text, reference):.4f} of lxml's |"
            )


def throughput(rounds: int) -> None:
    files = PDFS + HTMLS
    size = sum(p.stat().st_size for p in files) * rounds
    load_tokenizer()  # loaded once per process in both cases: not timed

    def direct() -> int:
        pages = 0
        for _ in range(rounds):
            for path in PDFS:
                pages += len(pdfium_pages(path))
            for path in HTMLS:
                trafilatura.html2txt(path.read_bytes())
                pages += 1
        return pages

    def synthaug_ingest() -> int:
        pages = 0
        for _ in range(rounds):  # a fresh ingest each round: no duplicate skipping across rounds
            stats = IngestStats()
            for _row in ingest(files, ChunkingParams(), stats):
                pass
            pages += stats.pages
        return pages

    documents = [[page.text for page in extract(path)] for path in files]

    def counting() -> None:  # what ingest adds to parsing, in its own thread; a fresh memo
        for _ in range(rounds):
            counter = TokenCounter(load_tokenizer())
            for texts in documents:
                for text in texts:
                    counter.page(text)

    warm = TokenCounter(load_tokenizer())
    for texts in documents:
        for text in texts:
            warm.page(text)

    def counting_warm() -> None:  # every piece seen before: what a long ingest tends to
        for _ in range(rounds):
            for texts in documents:
                for text in texts:
                    warm.page(text)

    def encoding() -> None:  # the alternative: each page encoded whole, with offsets
        for _ in range(rounds):
            for texts in documents:
                load_tokenizer().encode_batch(texts, add_special_tokens=False)

    t_direct, cpu_direct, pages = best_wall_and_cpu(direct)
    t_ingest, cpu_ingest, ingested_pages = best_wall_and_cpu(synthaug_ingest)
    t_count, cpu_count, _ = best_wall_and_cpu(counting)
    t_warm, cpu_warm, _ = best_wall_and_cpu(counting_warm)
    t_encode, cpu_encode, _ = best_wall_and_cpu(encoding)
    assert pages == ingested_pages, (pages, ingested_pages)
    print(
        f"\n(2) ingest throughput: {rounds} rounds of {len(files)} documents, {pages} pages, {size / 1e6:.2f} MB"
    )
    print("| what | s | CPU s | pages/s | MB/s | x parser |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds, cpu in (
        ("parsers direct (pdfium, html2txt)", t_direct, cpu_direct),
        ("synthaug ingest (parse + chunk + tokens)", t_ingest, cpu_ingest),
        ("token counting alone (memoised pieces)", t_count, cpu_count),
        ("token counting, every piece seen before", t_warm, cpu_warm),
        ("vs pages encoded whole (encode_batch, offsets not read)", t_encode, cpu_encode),
    ):
        print(
            f"| {name} | {seconds:.2f} | {cpu:.2f} | {pages / seconds:.0f} | {size / 1e6 / seconds:.2f} | {t_direct / seconds:.2f} |"
        )


def bm25(corpus_size: int, queries_count: int) -> None:
    chunks = [row["text"] for row in ingest(PDFS + HTMLS, ChunkingParams(), IngestStats())]
    texts = (chunks * (corpus_size // len(chunks) + 1))[:corpus_size]
    queries = [" ".join(t.split()[:12]) for t in chunks]
    queries = (queries * (queries_count // len(queries) + 1))[:queries_count]
    index = BM25Index(texts)
    direct = bm25s.BM25()
    direct.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def ours() -> list:
        return index.search(queries, k=10)

    def library() -> Any:
        tokens = bm25s.tokenize(queries, stopwords="en", show_progress=False)
        return direct.retrieve(tokens, k=10, show_progress=False)

    t_ours, hits = best_time(ours)
    t_direct, (_, scores) = best_time(library)
    # the corpus repeats each chunk, so the ids of tied scores differ: compare the scores
    same = sum(
        np.allclose([h.score for h in row], [s for s in r if s > 0], rtol=1e-6)
        for row, r in zip(hits, scores, strict=True)
    )
    print(f"\n(3) BM25: {len(queries)} queries, k=10, over {len(texts)} chunks")
    print("| what | s | queries/s | x bm25s |")
    print("|---|---:|---:|---:|")
    print(
        f"| bm25s direct (tokenize + retrieve) | {t_direct:.2f} | {len(queries) / t_direct:.0f} | 1.00 |"
    )
    print(
        f"| synthaug BM25Index.search | {t_ours:.2f} | {len(queries) / t_ours:.0f} | {t_direct / t_ours:.2f} |"
    )
    print(f"the same top-10 scores for {same}/{len(queries)} queries")


def tokenizer_check() -> None:
    import tempfile

    from synthaug.llm.local import default_model_path

    print("\n(4) tokenizer")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache  # a cold cache: time the GGUF read
        load_tokenizer.cache_clear()
        cold, ours = best_time(load_tokenizer, repeat=1)
        load_tokenizer.cache_clear()
        warm, _ = best_time(load_tokenizer, repeat=1)
    print(f"load: {cold:.2f} s from the GGUF, {warm:.2f} s from the cached tokenizer.json")
    try:
        from transformers import AutoTokenizer
    except ImportError:
        print("transformers not installed (prefs extra): ids not compared")
        return
    gguf = default_model_path()
    reference = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    pages = [page.text for path in PDFS + HTMLS for page in extract(path)]
    same = sum(
        ours.encode(text, add_special_tokens=False).ids
        == reference(text, add_special_tokens=False)["input_ids"]
        for text in pages
    )
    print(f"token ids identical to transformers' GGUF tokenizer on {same}/{len(pages)} pages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    print(
        f"bench_ingest on {platform.node()} ({platform.processor() or platform.machine()}), "
        f"python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    parser_choice()
    throughput(args.rounds)
    bm25(args.corpus, args.queries)
    tokenizer_check()


if __name__ == "__main__":
    main()
