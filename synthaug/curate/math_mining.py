"""DeepSeekMath's iterative mining of math pages from a web crawl.

Shao et al., 2024, "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open
Language Models" (arXiv 2402.03300, §2.1, Figure 2). Each round:

1. train a fastText classifier: positives are the seed corpus (OpenWebMath in the paper,
   500K samples), negatives as many pages sampled from the crawl (500K); vector dimension
   256, learning rate 0.1, word n-grams up to 3, minimum word count 3, 3 epochs;
2. recall the crawl's math pages with it, rank them by score and keep the top (the paper
   kept a token budget, 40B tokens in round 1);
3. group the crawl by domain (pages sharing a base URL); a domain with more than 10 % of its
   pages collected is math-related (e.g. ``mathoverflow.net``);
4. within those domains the paper's annotators *manually* marked the URLs with mathematical
   content (e.g. ``mathoverflow.net/questions``); the pages under them not collected yet join
   the seed corpus, and the next round retrains on the larger seed.

After four rounds 98 % of the collected data had already been found in round three, so the
paper stopped. What differs here:

- the manual URL annotation is replaced by a rule: within a math domain, a URL prefix (host
  plus first path segment) whose collected share is at least ``path_share`` (ours, 0.5)
  counts as annotated math;
- the page text is lower-cased and split into words, LaTeX commands and single symbols
  before fastText sees it (the paper does not describe its preprocessing);
- negatives are sampled afresh each round from the pages that are neither seed pages nor
  collected in the round before (the paper samples random Common Crawl pages, where math is
  rare; in a small crawl it is not);
- the stop rule (``stop_overlap``) turns the paper's observation into a criterion;
- the budget is counted in whitespace words (``budget_words``), not tokenizer tokens.
"""

from __future__ import annotations

import importlib.util
import random
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import SynthaugError

INSTALL = "DeepSeekMath mining needs fastText: pip install 'synthaug[mathmine]'"
TOKEN = re.compile(r"\\[A-Za-z]+|\w+|[^\w\s]")
MATH, OTHER = "__label__math", "__label__other"


def require() -> None:
    """A one-line error when fastText is missing."""
    if importlib.util.find_spec("fasttext") is None:
        raise SynthaugError(INSTALL)


@dataclass(frozen=True)
class FastTextConfig:
    """The classifier's settings (paper: dim 256, lr 0.1, wordNgrams 3, minCount 3, epoch 3)."""

    dim: int = 256
    lr: float = 0.1
    word_ngrams: int = 3
    min_count: int = 3
    epochs: int = 3
    bucket: int = 2_000_000  # fastText's default hashed n-gram rows (dim x bucket floats)


@dataclass(frozen=True)
class MiningConfig:
    rounds: int = 4  # the paper's four iterations
    domain_share: float = 0.10  # a domain with more than this share collected is math-related
    path_share: float = 0.5  # ours: the rule standing in for the manual URL annotation
    min_score: float = 0.5  # a page is recalled when P(math) exceeds this
    budget_words: int | None = None  # keep the top-ranked pages up to this many words
    negative_ratio: float = 1.0  # negatives per positive (paper: 500K / 500K)
    stop_overlap: float = 0.98  # stop when this share of a round's pages was already collected
    fasttext: FastTextConfig = field(default_factory=FastTextConfig)


@dataclass
class RoundStats:
    round: int
    positives: int
    negatives: int
    recalled: int
    collected: int
    overlap: float  # share of this round's collected pages collected in the round before
    math_domains: list[str]
    annotated: int  # pages that joined the seed corpus after this round


@dataclass
class MiningResult:
    scores: list[float]  # the last round's P(math) per page
    collected: list[int]  # indices kept by the last round, best first
    first_round: dict[int, int]  # page -> the first round that collected it
    rounds: list[RoundStats]


def fasttext_line(text: str) -> str:
    """``text`` as one fastText input line: lower-cased words, LaTeX commands and symbols."""
    return " ".join(TOKEN.findall(text.lower()))


def host(url: str) -> str:
    """The domain of ``url`` (its host, without ``www.``)."""
    name = urlsplit(url).netloc.lower()
    return name.removeprefix("www.")


def url_prefix(url: str) -> str:
    """Host plus first path segment, e.g. ``mathoverflow.net/questions``."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    return host(url) + ("/" + segments[0] if len(segments) > 1 else "")


def _shares(keys: list[str], collected: set[int]) -> dict[str, float]:
    total = Counter(keys)
    hits = Counter(keys[i] for i in collected)
    return {key: hits[key] / count for key, count in total.items()}


def math_domains(urls: list[str], collected: set[int], share: float) -> set[str]:
    """Domains with more than ``share`` of their pages collected."""
    return {d for d, s in _shares([host(u) for u in urls], collected).items() if s > share}


def annotate(
    urls: list[str], collected: set[int], domains: set[str], path_share: float
) -> set[int]:
    """Pages not collected under a math URL prefix of a math domain (the annotation rule)."""
    prefixes = [url_prefix(u) for u in urls]
    shares = _shares(prefixes, collected)
    return {
        i
        for i, (url, prefix) in enumerate(zip(urls, prefixes, strict=True))
        if i not in collected and host(url) in domains and shares[prefix] >= path_share
    }


class MathClassifier:
    """A fastText classifier of math vs other text (``fasttext`` package)."""

    def __init__(self, config: FastTextConfig, seed: int):
        self.config = config
        self.seed = seed
        self.model = None

    def train(self, positives: list[str], negatives: list[str]) -> None:
        require()
        import fasttext

        lines = [f"{MATH} {fasttext_line(t)}" for t in positives]
        lines += [f"{OTHER} {fasttext_line(t)}" for t in negatives]
        random.Random(self.seed).shuffle(lines)
        c = self.config
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "train.txt"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            self.model = fasttext.train_supervised(
                str(path), dim=c.dim, lr=c.lr, wordNgrams=c.word_ngrams, minCount=c.min_count,
                epoch=c.epochs, bucket=c.bucket, thread=1, seed=self.seed, verbose=0,
            )  # fmt: skip

    def scores(self, texts: list[str]) -> list[float]:
        """P(math) for each text."""
        labels, probs = self.model.predict([fasttext_line(t) for t in texts], k=2)
        return [
            next((float(p) for label, p in zip(ls, ps, strict=True) if label == MATH), 0.0)
            for ls, ps in zip(labels, probs, strict=True)
        ]


def _keep(scores: list[float], texts: list[str], config: MiningConfig) -> list[int]:
    """Recalled pages ranked by score, cut at the word budget."""
    ranked = sorted(
        (i for i, s in enumerate(scores) if s > config.min_score), key=lambda i: (-scores[i], i)
    )
    if config.budget_words is None:
        return ranked
    kept, words = [], 0
    for i in ranked:
        words += len(texts[i].split())
        if words > config.budget_words:
            break
        kept.append(i)
    return kept


def mine(
    texts: list[str], urls: list[str], seeds: list[str], config: MiningConfig, seed: int
) -> MiningResult:
    """Run the rounds over a crawl (``texts`` with their ``urls``) from the seed corpus."""
    rng = random.Random(seed)
    positives = list(seeds)
    added: set[int] = set()  # crawl pages that joined the seed corpus
    previous: set[int] = set()
    first_round: dict[int, int] = {}
    rounds: list[RoundStats] = []
    scores: list[float] = []
    kept: list[int] = []
    for number in range(1, config.rounds + 1):
        pool = [i for i in range(len(texts)) if i not in added and i not in previous]
        count = min(len(pool), round(len(positives) * config.negative_ratio))
        negatives = [texts[i] for i in rng.sample(pool, count)]
        classifier = MathClassifier(config.fasttext, seed + number)
        classifier.train(positives, negatives)
        scores = classifier.scores(texts)
        recalled = sum(s > config.min_score for s in scores)
        kept = _keep(scores, texts, config)
        collected = set(kept)
        for i in kept:
            first_round.setdefault(i, number)
        overlap = len(collected & previous) / len(collected) if collected else 1.0
        domains = math_domains(urls, collected, config.domain_share)
        new = annotate(urls, collected, domains, config.path_share) - added
        rounds.append(
            RoundStats(
                number,
                len(positives),
                len(negatives),
                recalled,
                len(collected),
                overlap,
                sorted(domains),
                len(new),
            )
        )
        if number > 1 and overlap >= config.stop_overlap and not new:
            break
        added |= new
        positives += [texts[i] for i in sorted(new)]
        previous = collected
    return MiningResult(scores, kept, first_round, rounds)
