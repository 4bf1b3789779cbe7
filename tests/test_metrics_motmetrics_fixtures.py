"""mot mode reproduces py-motmetrics' own expected values on its TUD fixtures to 1e-6."""

import pytest

from mtmc.formats import read_mot
from mtmc.metrics.evaluate import evaluate_sequence

# From ../shared/data/README.md (py-motmetrics 1.4.0 test expectations, IoU 0.5).
EXPECTED = {
    "TUD-Campus": dict(idf1=0.557659, idp=0.729730, idr=0.451253, recall=0.582173, precision=0.941441,
                       num_unique_objects=8, num_false_positives=13, num_misses=150, num_switches=7,
                       mota=0.526462, motp=0.277201),
    "TUD-Stadtmitte": dict(idf1=0.644619, idp=0.819760, idr=0.531142, recall=0.608997, precision=0.939920,
                           num_unique_objects=10, num_false_positives=45, num_misses=452, num_switches=7,
                           mota=0.564014, motp=0.345904),
    "overall": dict(idf1=0.624296, idp=0.799176, idr=0.512211, recall=0.602640, precision=0.940268,
                    num_unique_objects=18, num_false_positives=58, num_misses=602, num_switches=14,
                    mota=0.555116, motp=0.330177),
}  # fmt: skip


@pytest.fixture(scope="module")
def results(data_dir):
    out = {}
    for seq in ("TUD-Campus", "TUD-Stadtmitte"):
        gt = read_mot(data_dir / "mot-fixtures" / seq / "gt.txt")
        pred = read_mot(data_dir / "mot-fixtures" / seq / "test.txt")
        out[seq] = evaluate_sequence(gt, pred, min_iou=0.5)
    out["overall"] = out["TUD-Campus"] + out["TUD-Stadtmitte"]
    return {name: counts.metrics() for name, counts in out.items()}


@pytest.mark.parametrize("sequence", list(EXPECTED))
def test_matches_py_motmetrics(results, sequence):
    got = results[sequence]
    for key, expected in EXPECTED[sequence].items():
        assert got[key] == pytest.approx(expected, abs=1e-6), key
