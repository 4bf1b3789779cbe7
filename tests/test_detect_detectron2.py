"""The optional detectron2 backend: registered only when importable, a clear error when not."""

import pytest

from mtmc import weights
from mtmc.detect import DETECTORS, build_detector
from mtmc.detect.detectron2 import detectron2_available
from mtmc.errors import MtmcError

needs_detectron2 = pytest.mark.skipif(
    not detectron2_available(), reason="detectron2 is not installed (it is not on PyPI; optional backend)"
)


@pytest.mark.skipif(detectron2_available(), reason="detectron2 is installed")
def test_absent_detectron2_is_one_error_saying_how_to_install():
    assert "detectron2" not in DETECTORS.names()
    with pytest.raises(MtmcError) as info:
        build_detector("detectron2")
    message = str(info.value)
    assert "\n" not in message
    assert "git+https://github.com/facebookresearch/detectron2.git" in message
    assert "the default detector 'openvino' works without it" in message


@needs_detectron2
def test_present_detectron2_is_registered_and_resolves_weights_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(weights, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.delenv("MTMC_WEIGHTS_DIR", raising=False)
    assert "detectron2" in DETECTORS.names()
    with pytest.raises(MtmcError, match="fetch with: mtmc weights fetch detectron2-mask-rcnn-r50-fpn-3x$"):
        build_detector("detectron2")
