"""Config files: one-line errors naming file, field and reason; paths relative to the file."""

from pathlib import Path

import pytest

from mtmc.config import MtmcConfig, load_config
from mtmc.errors import MtmcError


def write(tmp_path, text) -> Path:
    path = tmp_path / "city.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, expected",
    [
        ("eval:\n  iou: 2\n", r"city.yaml: eval.iou: Input should be less than or equal to 1 \(got 2\)"),
        ("eval:\n  mode: sideways\n", r"city.yaml: eval.mode: Input should be 'mot' or 'aicity'"),
        ("eval:\n  iuo: 0.5\n", r"city.yaml: eval.iuo: unknown key \(did you mean 'iou'\?\)$"),
        ("evaluation: {}\n", r"city.yaml: evaluation: unknown key \(did you mean 'eval'\?\)"),
        ("eval: [1, 2\n", r"city.yaml:\d+: not valid YAML"),
        ("- a\n- b\n", r"city.yaml: expected a mapping"),
        ("cameras:\n  - {id: a, sorce: a.mp4}\n", r"city.yaml: cameras.0.sorce: unknown key \(did you mean 'source'\?\).* \[\+1 more\]"),
        ("matcher: {mdoe: online}\n", r"city.yaml: matcher.mdoe: unknown key \(did you mean 'mode'\?\)"),
    ],
)
def test_bad_config_one_line(tmp_path, text, expected):
    with pytest.raises(MtmcError, match=expected) as info:
        load_config(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_missing_config(tmp_path):
    with pytest.raises(MtmcError, match="config not found"):
        load_config(tmp_path / "nope.yaml")


def test_relative_paths_follow_the_config_file(tmp_path):
    config = load_config(write(tmp_path, "eval:\n  gt: data/gt\n  pred: /abs/pred\n"))
    assert config.eval.gt == tmp_path / "data" / "gt"
    assert config.eval.pred == Path("/abs/pred")


def test_empty_config_is_all_defaults(tmp_path):
    assert load_config(write(tmp_path, "")).eval.iou == 0.5


def test_shipped_configs_load():
    from mtmc.match.config import MatchConfig
    from mtmc.sim.config import SimConfig

    models = {"synthcity": SimConfig, "epfl": MatchConfig}
    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")):
        load_config(path, models.get(path.name.split("-")[0], MtmcConfig))
