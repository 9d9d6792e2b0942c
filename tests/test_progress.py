"""The progress line's ETA follows the slowest step, not only the source."""

from synthaug.engine.progress import Progress
from synthaug.engine.summary import StepStats


def test_eta_fraction_waits_for_the_slowest_later_step():
    source = StepStats("instructions", "m", rows_out=50)
    classify = StepStats("classify", "m", rows_in=50, rows_out=50)
    instances = StepStats("instances", "m", rows_in=13, rows_out=40)
    assert Progress([source, classify, instances], None, total=50).fraction_done() == 0.26


def test_eta_fraction_of_a_source_alone_and_before_any_row():
    assert Progress([StepStats("s", "m", rows_out=25)], None, total=100).fraction_done() == 0.25
    assert Progress([StepStats("s", "m")], None, total=100).fraction_done() == 0.0
    assert Progress([StepStats("s", "m", rows_out=5)], None, total=None).fraction_done() == 0.0
