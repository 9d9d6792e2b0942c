"""The progress line: its ETA follows the slowest step, not only the source; its rate is the
rows of the last step producing them."""

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


def test_rate_names_the_last_step_producing_rows_not_a_waiting_dedup():
    steps = [
        StepStats("instructions", "m", rows_out=50),
        StepStats("records", "m", rows_in=50, rows_out=67),
        StepStats("dedup", "m", rows_in=67),
    ]
    progress = Progress(steps, None, total=50)
    assert progress.producing_step().name == "records"
    rate = progress.line().split(" | ")[1]
    assert rate.endswith("rows/s (records)") and float(rate.split()[0]) > 0
    assert Progress([StepStats("s", "m")], None, total=3).producing_step().name == "s"
