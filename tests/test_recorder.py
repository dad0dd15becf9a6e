"""The weekly recorder: rows summed per key, counts by label, and last week's totals."""

from __future__ import annotations

import numpy as np
import pytest

from msksim.results import Recorder


def test_last_total_is_python_sum_of_the_metric_rows():
    """The live headline figures total a metric over its groups as `sum()` does (compensated
    for floats), whatever else was recorded in between."""
    values = [0.1, 1e16, 0.3, -1e16, 0.2, 1.0 / 3.0]
    rec = Recorder()
    rec.start_week(0, record=True)
    for i, v in enumerate(values):
        rec.add("touch_minutes", v, service=f"theatre_{i}")
        rec.add("other", 1.0, service=f"theatre_{i}")
    rec.end_week()
    naive = 0.0
    for v in values:
        naive += v
    assert naive != sum(values)  # the case this test is about
    assert rec.last_total("touch_minutes") == sum(values)
    assert rec.last_total("other") == len(values)
    assert rec.last_total("absent") == 0


def test_add_counts_rows_match_one_add_per_label():
    labels = ["a", "b", "c", "d"]
    counts = np.array([3, 0, 2, 5])
    ours, one_by_one = Recorder(), Recorder()
    for rec in (ours, one_by_one):
        rec.start_week(4, record=True)
    for _ in range(2):  # the second time uses the cached keys
        ours.add_counts("new_x", counts, labels, "condition", service="s", reason="r")
        ours.add_counts("new_x", counts, labels, "condition", reason="r", service="s")
        for _ in range(2):
            for label, n in zip(labels, counts, strict=True):
                if n:
                    one_by_one.add("new_x", int(n), condition=label, service="s", reason="r")
    for rec in (ours, one_by_one):
        rec.end_week()
    assert ours.frame().equals(one_by_one.frame())
    with pytest.raises(TypeError, match="both the grouping"):
        ours.add_counts("new_x", counts, labels, "condition", condition="a")
