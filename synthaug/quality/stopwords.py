"""Stop-word lists, one per method that needs one; each keeps its source's words (so the
methods behave as their papers and reference code do).
"""

from __future__ import annotations

# Gopher quality rule (Rae et al. 2021, App. A): a document needs at least two of these
GOPHER = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})

# EDA (Wei and Zou 2019): the reference code's list (NLTK's English list, shortened), '' included
EDA = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just
    don should now""".split()  # noqa: SIM905
) | {""}

# DISCO (Chen et al. 2023) span extraction: function words that split a text into spans of
# content words (our list)
DISCO = frozenset(
    """a an the of to in on at for from by with and or but is are was were be been being as
    it its this that these those his her their our your my who whom which what when where
    why how not no nor so than too very can will just do does did has have had i you he
    she we they me him them us""".split()  # noqa: SIM905
)

# Evol-Instruct's eliminator (Xu et al. 2023): an answer of only these and punctuation fails
# (our list)
EVOL_INSTRUCT = frozenset(
    """a an the and or but if then else of to in on at by for with from as is are was were be
    been being am do does did have has had i you he she it we they me him her us them my
    your his its our their this that these those there here what which who whom whose when
    where why how all any both each few more most other some such no nor not only own same
    so than too very can will just should now ok okay yes""".split()  # noqa: SIM905
)
