"""Search over read-only text: the built-in ``search_documents`` (BM25 over the chunks of
``synthaug ingest``) and ``lookup`` (a Wikipedia-search-like lookup over the encyclopedia
text shipped with synthaug). Runs in the sandbox only; the texts are the read-only files
``corpus.jsonl`` and ``encyclopedia.jsonl`` in ``$SYNTHAUG_DATA``, each indexed when this
module loads (bm25s, Okapi BM25 as ``synthaug.retrieval.BM25Index``: lucene variant, k1 1.5,
b 0.75, bm25s' tokens, English stop words removed).
"""

import json
import os

import bm25s

FOLDER = os.environ.get("SYNTHAUG_DATA", "")


def _load(name):
    """(rows, BM25 index over ``key(row)``) of one data file, or None when not given."""
    path = os.path.join(FOLDER, name)
    if not FOLDER or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    texts = [(row.get("title", "") + "\n" + row["text"]).strip() for row in rows]
    index = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    index.index(_tokens(texts), show_progress=False)
    return rows, index


def _tokens(texts):
    return bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)


def _search(loaded, query, k):
    """[(row index, score)], best first, positive scores only, ties by index."""
    rows, index = loaded
    k = min(k, len(rows))
    ids, scores = index.retrieve(_tokens([query]), k=k, show_progress=False, n_threads=0)
    pairs = [
        (i, round(s, 4)) for i, s in zip(ids[0].tolist(), scores[0].tolist(), strict=True) if s > 0
    ]
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))


CORPUS = _load("corpus.jsonl")
ENCYCLOPEDIA = _load("encyclopedia.jsonl")


def search_documents(query: str, k: int = 3) -> list:
    """Search the local document collection for passages about a question or keywords;
    returns the best passages with their source.

    Args:
        query: what to look for, e.g. a question or a few keywords
        k: how many passages to return, 1 to 10
    """
    if CORPUS is None:
        raise RuntimeError("no document collection was given to this tool")
    if not 1 <= k <= 10:
        raise ValueError("k must be between 1 and 10")
    rows = CORPUS[0]
    return [
        {"chunk_id": rows[i]["chunk_id"], "text": rows[i]["text"], "source": rows[i]["source"],
         "score": score}
        for i, score in _search(CORPUS, query, k)
    ]  # fmt: skip


def lookup(title_or_query: str) -> dict:
    """Look up an encyclopedia article by its title (e.g. "Aristotle"), or find the article
    that best matches a query; returns the article's opening section.

    Args:
        title_or_query: an article title, or a few words describing the subject
    """
    if ENCYCLOPEDIA is None:
        raise RuntimeError("no encyclopedia was given to this tool")
    rows = ENCYCLOPEDIA[0]
    wanted = " ".join(title_or_query.split()).casefold()
    exact = [i for i, row in enumerate(rows) if row["title"].casefold() == wanted]
    hits = [i for i, _ in _search(ENCYCLOPEDIA, title_or_query, 5)]
    if not exact and not hits:
        raise LookupError(f"no article matches {title_or_query!r}")
    best = exact[0] if exact else hits[0]
    article = rows[best]
    return {
        "title": article["title"], "text": article["text"], "url": article["url"],
        "matched": "title" if exact else "search",
        "similar": [rows[i]["title"] for i in hits if i != best][:4],
    }  # fmt: skip
