"""Triple extraction: precision and recall of ``kg.extract`` on the embedded model against a
hand-made gold set, beside a simple pattern baseline.

Gold set: the document shipped with synthaug (``synthaug/data/documents/libffi-The-Basics.html``,
"The Basics" of the libffi manual). Its facts were written down by hand, reading the text
extracted by ``synthaug ingest --html main``, one (subject, relation, object) triple per fact
the text states between two named things (functions, types, parameters, values), each
subject and object copied as the text spells it (``GOLD`` below, 18 triples).

Matching: names compared by ``knowledge.entities.entity_key``; a *pair* matches when subject
and object match a gold triple's; a *triple* matches when, in addition, the relations share a
content word (first 4 letters, so "returns"/"return" agree). Precision and recall over the
unique extracted triples of the whole document.

Systems:
- ``pattern``: per sentence, each two neighbouring entity phrases (``candidate_entities`` of
  the chunk) with at most 6 words between them containing a verb of a small
  list; the words between are the relation (a ReVerb-like heuristic, no model);
- ``model/none``: ``kg.extract`` with free names (checked against the chunk);
- ``model/spans``: ``kg.extract`` with ``constrain: spans``.

    python benchmarks/bench_kg.py [--systems pattern,none,spans] [--max-triples 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from importlib import resources
from itertools import pairwise
from pathlib import Path

import yaml

from synthaug.knowledge.entities import candidate_entities, entity_key

GOLD = [
    ("cif", "stands for", "Call InterFace"),
    ("ffi_cif", "matches", "signature"),
    ("ffi_prep_cif", "initializes", "cif"),
    ("ffi_prep_cif", "returns", "ffi_status"),
    ("abi", "is normally", "FFI_DEFAULT_ABI"),
    ("nargs", "is the number of", "arguments"),
    ("rtype", "is a pointer to", "ffi_type"),
    ("argtypes", "is a vector of", "ffi_type"),
    ("argtypes", "must have", "nargs"),
    ("ffi_prep_cif_var", "is used instead of", "ffi_prep_cif"),
    ("nfixedargs", "is the number of", "fixed arguments"),
    ("ffi_prep_cif_var", "returns", "FFI_BAD_ARGTYPE"),
    ("ffi_type_float", "is promoted to", "ffi_type_double"),
    ("ffi_cif", "holds pointers to", "ffi_type"),
    ("ffi_call", "calls", "fn"),
    ("cif", "is prepared using", "ffi_prep_cif"),
    ("libffi", "provides", "ffi_arg"),
    ("avalues", "is a vector of", "pointers"),
]
VERBS = re.compile(
    r"\b(is|are|was|returns?|holds?|provides?|uses?|calls?|describes?|initiali[sz]es?|"
    r"stands?|matches?|must|points?|declares?|contains?|takes?|gives?)\b",
    re.IGNORECASE,
)
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n")


def document() -> Path:
    return Path(str(resources.files("synthaug") / "data" / "documents" / "libffi-The-Basics.html"))


def pattern_triples(text: str) -> set[tuple[str, str, str]]:
    """The baseline: neighbouring entity phrases joined by a short verb phrase."""
    found = set()
    names = candidate_entities(text, limit=1000)
    for sentence in SENTENCE.split(text):
        spans = sorted(
            (m.start(), m.end(), n)
            for n in names
            for m in re.finditer(rf"(?<!\w){re.escape(n)}(?!\w)", sentence)
        )
        for (_, end, first), (start, _, second) in pairwise(spans):
            between = sentence[end:start].strip(" ,;:()")
            if 0 < len(between.split()) <= 6 and VERBS.search(between) and first != second:
                found.add((first, between, second))
    return found


def model_triples(constrain: str, max_triples: int, work: Path) -> tuple[set, float, dict]:
    """``kg.extract`` over the chunks of the document: its triples, seconds, run summary."""
    recipe = {
        "name": f"bench_kg_{constrain}",
        "seed": 0,
        "backend": {"type": "local", "parallel": 4},
        "steps": [
            {"method": "ingest", "params": {"paths": [str(document())], "html": "main"}},
            {"method": "kg.extract",
             "params": {"constrain": constrain, "max_triples": max_triples}},
        ],
    }  # fmt: skip
    path = work / f"{constrain}.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    out = work / f"{constrain}.jsonl"
    env = {**os.environ, "SYNTHAUG_CACHE": str(work / f"{constrain}.sqlite3")}
    started = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("synthaug")), "run", str(path), "--out", str(out), "--quiet"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    summary = json.loads(out.with_name(out.stem + ".summary.json").read_text(encoding="utf-8"))
    return {(r["subject"], r["relation"], r["object"]) for r in rows}, elapsed, summary


def stems(relation: str) -> set[str]:
    return {w[:4] for w in re.findall(r"[a-z]+", relation.lower()) if len(w) > 2}


def score(found: set[tuple[str, str, str]]) -> dict[str, float | int]:
    """Pair and triple precision/recall of ``found`` against ``GOLD``."""
    gold = [(entity_key(s), stems(r), entity_key(o)) for s, r, o in GOLD]
    unique = {(entity_key(s), r, entity_key(o)) for s, r, o in found}

    def pair(t, g) -> bool:
        return t[0] == g[0] and t[2] == g[2]

    def triple(t, g) -> bool:
        return pair(t, g) and bool(stems(t[1]) & g[1])

    result: dict[str, float | int] = {"extracted": len(unique)}
    for name, match in (("pair", pair), ("triple", triple)):
        right = sum(any(match(t, g) for g in gold) for t in unique)
        recalled = sum(any(match(t, g) for t in unique) for g in gold)
        result[f"{name}_precision"] = round(right / len(unique), 3) if unique else 0.0
        result[f"{name}_recall"] = round(recalled / len(gold), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default="pattern,none,spans")
    parser.add_argument("--max-triples", type=int, default=8)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; gold triples: {len(GOLD)}")  # fmt: skip
    from synthaug.ingest.corpus import ChunkingParams, IngestStats, ingest

    chunks = list(ingest([document()], ChunkingParams(html="main"), IngestStats()))
    with tempfile.TemporaryDirectory() as tmp:
        for system in args.systems.split(","):
            if system == "pattern":
                started = time.monotonic()
                found = set().union(*(pattern_triples(c["text"]) for c in chunks))
                elapsed, extra = time.monotonic() - started, ""
            else:
                found, elapsed, summary = model_triples(system, args.max_triples, Path(tmp))
                errors = {s["name"]: s.get("errors") for s in summary["steps"]}
                extra = f" errors={errors}"
            line = {"system": system, **score(found), "seconds": round(elapsed, 1)}
            print(json.dumps(line) + extra)


if __name__ == "__main__":
    main()
