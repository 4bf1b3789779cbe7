"""PGAN (Part-Guided Attention Network): part proposals, MGAP, PAM weights, Eq. 3, the model's
train/eval outputs and its losses (Eq. 5)."""

from __future__ import annotations

import pytest
import torch

from mtmc.errors import MtmcError
from mtmc.reid.modeling import build_model
from mtmc.reid.modeling.layers.parts import (
    PART_PROPOSERS,
    ActivationPeaks,
    box_iou,
    boxes_to_masks,
    project_boxes,
)
from mtmc.reid.modeling.meta_arch.pgan import (
    PGAN,
    PartAttention,
    mask_guided_average_pool,
    part_guided_feature,
)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def tiny_pgan(**options) -> PGAN:
    defaults = dict(num_classes=2, depth=18, embed_dim=32, input_size=(64, 64))
    return PGAN(**(defaults | options))


def pk_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """P=2 identities x K=2 images at 64x64; the identities differ in colour so they can be learnt."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(2, 3, 1, 1, generator=generator).expand(2, 3, 64, 64)
    images = base.repeat_interleave(2, 0) + 0.1 * torch.randn(4, 3, 64, 64, generator=generator)
    return {"images": images, "pids": torch.tensor([0, 0, 1, 1])}


# --- part proposer ------------------------------------------------------------------------------


def test_activation_peaks_returns_d_boxes_inside_the_map_with_binary_masks_of_the_box_area():
    torch.manual_seed(0)
    features = torch.rand(3, 16, 14, 14)
    proposer = PART_PROPOSERS.build("activation-peaks", num_parts=8)
    boxes, masks = proposer(features, torch.zeros(3, 3, 224, 224))
    assert boxes.shape == (3, 8, 4) and masks.shape == (3, 8, 14, 14)
    x1, y1, x2, y2 = boxes.unbind(-1)
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= 14).all() and (y2 <= 14).all()
    assert ((x2 - x1) == 3).all() and ((y2 - y1) == 3).all()  # round(0.2 * 14) cells a side
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    assert (masks.sum((2, 3)) == 9).all()
    assert torch.equal(masks, boxes_to_masks(boxes, 14, 14))


def test_activation_peaks_ranks_by_activation_and_nms_keeps_peaks_apart():
    saliency = torch.zeros(1, 1, 10, 10)
    saliency[0, 0, 5, 5] = 10.0  # strongest peak
    saliency[0, 0, 5, 6] = 9.0  # its neighbour: suppressed by NMS
    saliency[0, 0, 1, 1] = 8.0  # far away: second part
    proposer = ActivationPeaks(num_parts=4, box_fraction=0.3, nms_iou=0.3)
    boxes, _ = proposer(saliency.expand(1, 4, 10, 10), torch.zeros(1, 3, 160, 160))
    assert boxes[0, 0].tolist() == [4, 4, 7, 7]  # 3x3 around (row 5, col 5)
    assert boxes[0, 1].tolist() == [0, 0, 3, 3]  # (1, 1)'s box, not the neighbour (5, 6)
    iou = box_iou(boxes[0])
    assert (iou[~torch.eye(4, dtype=torch.bool)] <= 0.3).all()


def test_activation_peaks_still_returns_d_boxes_when_nms_leaves_too_few():
    proposer = ActivationPeaks(num_parts=8, box_fraction=1.0)
    boxes, masks = proposer(torch.rand(2, 4, 3, 3), torch.zeros(2, 3, 48, 48))
    assert boxes.shape == (2, 8, 4)
    assert (masks.sum((2, 3)) == 9).all()  # every box is the whole 3x3 map


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_parts": 0}, "num_parts must be >= 1"),
        ({"box_fraction": 0.0}, r"box_fraction must lie in \(0, 1\]"),
        ({"nms_iou": 1.0}, r"nms_iou must lie in \[0, 1\)"),
    ],
)
def test_activation_peaks_rejects_invalid_options(options, message):
    with pytest.raises(ValueError, match=message):
        ActivationPeaks(**options)


def test_project_boxes_maps_image_pixels_to_the_overlapped_feature_cells():
    boxes = torch.tensor(
        [
            [
                [10.0, 20.0, 40.0, 30.0],  # cols 0..2 (10/16 -> 0, 40/16 -> 3 exclusive), row 1
                [-5.0, -5.0, 100.0, 100.0],  # outside the image: clipped to the whole 4x4 map
                [63.0, 63.0, 63.0, 63.0],  # degenerate corner box: its one cell
            ]
        ]
    )
    cells, masks = project_boxes(boxes, (64, 64), (4, 4))
    assert cells[0].tolist() == [[0, 1, 3, 2], [0, 0, 4, 4], [3, 3, 4, 4]]
    assert masks[0, 0].tolist() == [[0, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert masks.sum((2, 3)).tolist() == [[3, 16, 1]]


# --- part attention module ---------------------------------------------------------------------


def test_mask_guided_average_pool_divides_by_the_part_area_not_the_map():
    features = torch.arange(18, dtype=torch.float).reshape(1, 2, 3, 3)  # channel 0: 0..8, channel 1: 9..17
    masks = torch.zeros(1, 2, 3, 3)
    masks[0, 0, 0, :2] = 1  # cells 0, 1
    masks[0, 1, 1:, 2] = 1  # cells 5, 8
    pooled = mask_guided_average_pool(features, masks)
    expected = torch.tensor([[[0.5, 9.5], [6.5, 15.5]]])  # (0+1)/2, (9+10)/2 ; (5+8)/2, (14+17)/2
    torch.testing.assert_close(pooled, expected)


def test_part_attention_weights_are_a_distribution_over_parts():
    torch.manual_seed(0)
    attention = PartAttention(channels=16, reduction=4)
    masks = boxes_to_masks(torch.tensor([[[0, 0, 2, 2], [1, 1, 4, 3], [3, 0, 4, 4]]] * 2), 4, 4)
    weights = attention(torch.rand(2, 16, 4, 4), masks)
    assert weights.shape == (2, 3)
    assert ((weights >= 0) & (weights <= 1)).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(2))


def test_part_attention_rejects_invalid_options():
    with pytest.raises(ValueError, match=r"reduction must lie in \[1, 16\] \(the channels\), got 32"):
        PartAttention(channels=16, reduction=32)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        PartAttention(channels=16, temperature=0.0)


def test_part_guided_feature_is_the_weighted_sum_of_masked_maps_plus_the_global_map():
    torch.manual_seed(0)
    global_map = torch.randn(2, 5, 4, 4)
    masks = (torch.rand(2, 3, 4, 4) > 0.5).float()
    weights = torch.softmax(torch.randn(2, 3), 1)
    expected = global_map.clone()
    for i in range(3):  # Eq. 3 term by term, F_i = M_i * F_g (Eq. 2)
        expected += weights[:, i, None, None, None] * (masks[:, i, None] * global_map)
    torch.testing.assert_close(part_guided_feature(global_map, masks, weights), expected)


# --- model ---------------------------------------------------------------------------------------


def test_registered_model_has_the_paper_defaults():
    model = build_model("pgan", num_classes=576)
    assert isinstance(model, PGAN)
    assert model.feature_dim == 512 and model.input_size == (224, 224)
    assert model.backbone.depth == 50 and model.backbone.out_channels == 2048
    assert model.part_proposer.num_parts == 8
    assert model.id_weight == 2.0 and model.triplet_margin == 0.3


def test_train_and_eval_outputs():
    torch.manual_seed(0)
    model = tiny_pgan()
    images = pk_batch()["images"]
    outputs = model.train()(images)
    assert outputs["fusion"].shape == (4, 64)
    assert outputs["global"].shape == (4, 32) and outputs["part"].shape == (4, 32)
    assert outputs["logits"].shape == (4, 2)
    assert outputs["part_weights"].shape == (4, 8) and outputs["part_boxes"].shape == (4, 8, 4)
    torch.testing.assert_close(outputs["part_weights"].sum(1), torch.ones(4))
    neck_outputs = []
    model.neck.register_forward_hook(lambda module, inputs, output: neck_outputs.append(output))
    with torch.no_grad():
        features = model.eval()(images)
    assert features.shape == (4, model.feature_dim)
    assert features is neck_outputs[0][1]  # the batch-normalised fusion feature (Sec. 3.5)
    assert not torch.allclose(features, neck_outputs[0][0])


def test_onnx_export_matches_eager_at_other_batch_and_image_sizes(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    from mtmc.reid.embedder import export_onnx

    torch.manual_seed(0)
    model = tiny_pgan().eval()
    session = onnxruntime.InferenceSession(str(export_onnx(model, tmp_path / "pgan.onnx", (64, 64))))
    for shape in [(2, 3, 64, 64), (3, 3, 160, 128)]:  # 4x4 map, 1x1 boxes; 10x8 map, 2x2 boxes
        images = torch.randn(*shape)
        with torch.no_grad():
            expected = model(images).numpy()
        exported = session.run(None, {"images": images.numpy()})[0]
        torch.testing.assert_close(torch.from_numpy(exported), torch.from_numpy(expected))


def test_given_part_boxes_replace_the_proposer():
    torch.manual_seed(0)
    model = tiny_pgan(num_parts=2).train()
    boxes = torch.tensor([[0.0, 0.0, 32.0, 32.0], [32.0, 48.0, 64.0, 64.0]]).expand(4, 2, 4)
    outputs = model(pk_batch()["images"], part_boxes=boxes)
    assert outputs["part_boxes"][0].tolist() == [[0, 0, 2, 2], [2, 3, 4, 4]]  # 64x64 -> 4x4 map
    with pytest.raises(ValueError, match=r"part_boxes must have shape \(batch, num_parts, 4\) = \(4, 2, 4\)"):
        model(pk_batch()["images"], part_boxes=boxes[:, :1])


def test_proposer_options_reach_the_proposer():
    torch.manual_seed(0)
    model = tiny_pgan(num_parts=3, proposer_options={"box_fraction": 0.5, "nms_iou": 0.0}).train()
    boxes = model(pk_batch()["images"])["part_boxes"]
    assert boxes.shape == (4, 3, 4)
    assert ((boxes[..., 2:] - boxes[..., :2]) == 2).all()  # half of the 4x4 map a side


def test_losses_are_finite_decrease_and_reach_the_part_attention():
    torch.manual_seed(0)
    model = tiny_pgan().train()
    batch = pk_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    totals = []
    for step in range(6):
        losses = model.losses(model(batch["images"]), batch)
        assert set(losses) == {"id", "triplet_fusion", "triplet_global", "triplet_part"}
        assert all(torch.isfinite(value) for value in losses.values())
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        if step == 0:
            for name, parameter in model.part_attention.named_parameters():
                assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
        optimizer.step()
        totals.append(total.item())
    assert totals[-1] < totals[0]


def test_id_loss_is_weighted_by_lambda():
    torch.manual_seed(0)
    model = tiny_pgan(id_weight=2.0).train()
    batch = pk_batch()
    outputs = model(batch["images"])
    plain = torch.nn.functional.cross_entropy(outputs["logits"], batch["pids"])
    torch.testing.assert_close(model.losses(outputs, batch)["id"], 2.0 * plain)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_classes": 0}, "num_classes must be >= 1"),
        ({"embed_dim": 30}, "embed_dim must be a positive multiple of 4"),
        ({"id_weight": -1.0}, "id_weight must be >= 0"),
        ({"triplet_margin": 0.0}, "triplet_margin must be > 0 or None"),
        ({"label_smoothing": 1.0}, r"label_smoothing must lie in \[0, 1\)"),
        ({"input_size": (0, 64)}, "input_size must be"),
        ({"depth": 34}, "depth must be 18 or 50"),
        ({"num_parts": 0}, "num_parts must be >= 1"),
    ],
)
def test_model_rejects_invalid_options(options, message):
    with pytest.raises(ValueError, match=message):
        tiny_pgan(**options)


def test_unknown_part_proposer_lists_the_valid_names():
    with pytest.raises(MtmcError, match="unknown part proposer 'ssd'.*activation-peaks"):
        tiny_pgan(part_proposer="ssd")

