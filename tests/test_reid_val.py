"""VAL (paper 002): the Attention Computing Module, the rotation self-supervision, the cosine
classifier, and the three-branch model (shapes, losses, training, gradient paths) on 64 x 64 images
(32 x 32 where only the arithmetic is checked): the full ResNet50 + ResNet18 model is heavy on a CPU."""

from __future__ import annotations

import math

import pytest
import torch

from mtmc.reid.modeling import build_model
from mtmc.reid.modeling.heads.cosine import CosineClassifier
from mtmc.reid.modeling.layers.acm import (
    AttentionComputingModule,
    channel_max_normalise,
    neighbourhood_softmax,
)
from mtmc.reid.modeling.losses import batch_hard_triplet, cross_entropy_ls
from mtmc.reid.modeling.losses.rotation import rotate_batch, rotation_cross_entropy
from mtmc.reid.modeling.meta_arch.val import VAL

PIDS = torch.tensor([0, 0, 1, 1])  # P = 2 identities x K = 2 images


@pytest.fixture(scope="module")
def model() -> VAL:
    torch.manual_seed(0)
    return build_model("val", num_classes=2, input_size=(64, 64))


# --- Attention Computing Module ------------------------------------------------------------------


def test_neighbourhood_softmax_of_a_constant_map_is_one_over_the_window_size() -> None:
    """Equal logits: M = 1 / |N(u, v)|; a 7 x 7 window on a 9 x 9 map is cut to 4 x 4 at a corner,
    4 x 7 at the middle of an edge, 7 x 7 at the centre."""
    m = neighbourhood_softmax(torch.full((1, 1, 9, 9), 2.5), 7)[0, 0]
    assert m[0, 0].item() == pytest.approx(1 / 16)
    assert m[0, 4].item() == pytest.approx(1 / 28)
    assert m[4, 4].item() == pytest.approx(1 / 49)


def test_neighbourhood_softmax_matches_the_window_sum_per_channel() -> None:
    torch.manual_seed(0)
    features = torch.rand(1, 2, 9, 9) * 5
    m = neighbourhood_softmax(features, 7)
    for k, u, v in [(0, 0, 0), (1, 4, 4), (0, 8, 2), (1, 3, 7)]:
        window = features[0, k, max(0, u - 3) : u + 4, max(0, v - 3) : v + 4]
        expected = math.exp(features[0, k, u, v]) / window.exp().sum().item()
        assert m[0, k, u, v].item() == pytest.approx(expected, rel=1e-5)
    assert float(m.min()) > 0 and float(m.max()) <= 1 + 1e-6


def test_channel_max_normalise_divides_by_the_channel_maximum_and_survives_zeros() -> None:
    features = torch.tensor([[[[2.0, 1.0, 0.0]], [[1.0, 4.0, 0.0]]]])  # (1, 2, 1, 3); last position all zero
    g = channel_max_normalise(features)
    assert torch.allclose(g[0, :, 0], torch.tensor([[1.0, 0.25, 0.0], [0.5, 1.0, 0.0]]))


def test_acm_mask_by_hand() -> None:
    """Two channels on a 1 x 2 map (the 7 x 7 window covers both positions):
    M0 = softmax(2, 1), M1 = softmax(1, 4); G0 = (1, 1/4), G1 = (1/2, 1); Q~ = max_t M G; Q = Q~ / sum."""
    features = torch.tensor([[[[2.0, 1.0]], [[1.0, 4.0]]]])
    e = math.e
    q_left = max(e / (e + 1) * 1.0, 1 / (1 + e**3) * 0.5)
    q_right = max(1 / (e + 1) * 0.25, e**3 / (1 + e**3) * 1.0)
    q = AttentionComputingModule(7)(features)
    assert q.shape == (1, 1, 1, 2)
    expected = torch.tensor([q_left, q_right]) / (q_left + q_right)
    assert torch.allclose(q[0, 0, 0], expected, atol=1e-6)


def test_acm_mask_lies_in_0_1_and_sums_to_one_per_image() -> None:
    torch.manual_seed(0)
    features = torch.relu(torch.randn(3, 8, 10, 12))
    features[1] = 0  # an all-zero map: a zero mask, not NaN
    q = AttentionComputingModule()(features)
    assert q.shape == (3, 1, 10, 12)
    assert torch.isfinite(q).all() and float(q.min()) >= 0 and float(q.max()) <= 1
    assert torch.allclose(q.sum(dim=(1, 2, 3)), torch.tensor([1.0, 0.0, 1.0]))


@pytest.mark.parametrize("size", [0, 4, -3])
def test_acm_rejects_an_even_or_empty_neighbourhood(size: int) -> None:
    with pytest.raises(ValueError, match="odd integer >= 1"):
        AttentionComputingModule(size)


# --- rotation self-supervision --------------------------------------------------------------------


def test_rotate_batch_turns_each_image_by_its_label() -> None:
    images = torch.arange(64 * 3 * 5 * 5, dtype=torch.float32).reshape(64, 3, 5, 5)  # no symmetry
    rotated, labels = rotate_batch(images, generator=torch.Generator().manual_seed(0))
    assert rotated.shape == images.shape and labels.dtype == torch.int64
    assert set(labels.tolist()) == {0, 1, 2, 3}
    for image, turned, label in zip(images, rotated, labels.tolist(), strict=True):
        assert torch.equal(turned, torch.rot90(image, label, dims=(1, 2)))
        assert torch.equal(torch.rot90(turned, 4 - label, dims=(1, 2)), image)  # four quarter turns in all
        assert label == 0 or not torch.equal(turned, image)


def test_rotate_batch_rejects_non_square_images() -> None:
    with pytest.raises(ValueError, match="square"):
        rotate_batch(torch.zeros(2, 3, 4, 6))


def test_rotation_cross_entropy_by_hand() -> None:
    """Row 1: softmax(0, ln 3, 0, 0)[1] = 1/2 -> ln 2; row 2: uniform -> ln 4; mean 1.5 ln 2."""
    logits = torch.tensor([[0.0, math.log(3), 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    loss = rotation_cross_entropy(logits, torch.tensor([1, 0]))
    assert loss.item() == pytest.approx(1.5 * math.log(2))
    with pytest.raises(ValueError, match="one column per rotation"):
        rotation_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]))


# --- cosine classifier -----------------------------------------------------------------------------


def test_cosine_classifier_is_the_scaled_cosine() -> None:
    classifier = CosineClassifier(3, 2, scale=10.0)
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))
    logits = classifier(torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.0, 0.3]]))
    expected = torch.tensor([[10.0, 0.0], [0.0, 10 / math.sqrt(2)]])
    assert torch.allclose(logits, expected, atol=1e-5)


def test_cosine_classifier_ignores_the_feature_norm_and_learns_its_scale() -> None:
    torch.manual_seed(0)
    classifier = CosineClassifier(16, 4, scale=10.0)
    features = torch.randn(5, 16)
    logits = classifier(features)
    assert torch.allclose(logits, classifier(7 * features), atol=1e-5)
    assert float(logits.detach().abs().max()) <= 10 + 1e-5
    logits.sum().backward()
    assert classifier.scale.grad is not None
    fixed = CosineClassifier(16, 4, scale=3.0, learn_scale=False)
    assert "scale" not in dict(fixed.named_parameters()) and fixed.scale.item() == 3.0


def test_cosine_classifier_rejects_a_non_positive_scale() -> None:
    with pytest.raises(ValueError, match="scale must be > 0"):
        CosineClassifier(8, 4, scale=0.0)


# --- the model -------------------------------------------------------------------------------------


def test_model_shapes_in_train_and_eval(model: VAL) -> None:
    images = torch.randn(4, 3, 64, 64)
    assert model.feature_dim == 4096 and model.input_size == (64, 64)
    model.eval()
    with torch.no_grad():
        feature = model(images)
    assert feature.shape == (4, 4096)
    model.train()
    with torch.no_grad():
        outputs = model(images)
    assert outputs["global_feature"].shape == outputs["attention_feature"].shape == (4, 2048)
    assert outputs["global_logits"].shape == outputs["attention_logits"].shape == (4, 2)
    assert outputs["attention_mask"].shape == (4, 1, 8, 8)  # ResNet18 with stride 1 in conv4/conv5: /8
    assert torch.allclose(outputs["attention_mask"].sum(dim=(1, 2, 3)), torch.ones(4))
    assert outputs["rotation_logits"].shape == (4, 4)
    assert set(outputs["rotation_labels"].tolist()) <= {0, 1, 2, 3}


def test_eval_feature_is_the_concatenation_of_the_bnneck_features(model: VAL) -> None:
    torch.manual_seed(1)
    images = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        shared = model.trunk(images)
        global_part = model.global_neck.bn(model.global_tail(shared).mean(dim=(2, 3)))
        masked = shared * model.attention_mask(images)
        attention_part = model.attention_neck.bn(model.attention_tail(masked).mean(dim=(2, 3)))
        feature = model(images)
    assert torch.allclose(feature, torch.cat([global_part, attention_part], dim=1), atol=1e-5)


def test_losses_carry_the_paper_weights(model: VAL) -> None:
    torch.manual_seed(2)
    model.train()
    with torch.no_grad():
        outputs = model(torch.randn(4, 3, 32, 32))
    losses = model.losses(outputs, {"pids": PIDS})
    names = {"triplet_global", "softmax_global", "triplet_attention", "softmax_attention", "rotation"}
    assert set(losses) == names
    assert all(torch.isfinite(value) for value in losses.values())
    triplet = batch_hard_triplet(outputs["global_feature"], PIDS, margin=0.5)
    softmax = cross_entropy_ls(outputs["attention_logits"], PIDS, epsilon=0.1)
    assert losses["triplet_global"].item() == pytest.approx(0.5 * triplet.item())
    assert losses["softmax_attention"].item() == pytest.approx(0.5 * softmax.item())
    rotation = rotation_cross_entropy(outputs["rotation_logits"], outputs["rotation_labels"])
    assert losses["rotation"].item() == pytest.approx(rotation.item())


def test_training_lowers_the_loss_and_every_branch_reaches_the_attention_encoder() -> None:
    torch.manual_seed(0)
    model = build_model("val", num_classes=2, input_size=(64, 64))
    model.train()
    images = torch.randn(4, 3, 64, 64)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)  # Sec. 4: Adam, initial lr 1e-4
    encoder_weight = model.attention_encoder.stem[0].weight
    totals = []
    for step in range(3):
        torch.manual_seed(1)  # the same rotations at every step, so the losses compare
        losses = model.losses(model(images), {"pids": PIDS})
        total = sum(losses.values())
        totals.append(total.item())
        optimiser.zero_grad()
        if step == 0:
            attention = losses["triplet_attention"] + losses["softmax_attention"]
            (via_mask,) = torch.autograd.grad(attention, encoder_weight, retain_graph=True)
            via_rotation, trunk_from_rotation = torch.autograd.grad(
                losses["rotation"],
                [encoder_weight, model.trunk[0][0].weight],
                retain_graph=True,
                allow_unused=True,
            )
            assert float(via_mask.abs().sum()) > 0  # Eq. 2: through Q = ACM(h(x))
            assert float(via_rotation.abs().sum()) > 0  # Eq. 3: the shared encoder h
            assert trunk_from_rotation is None  # the self-supervised branch shares only h
        total.backward()
        optimiser.step()
    assert all(math.isfinite(value) for value in totals)
    assert totals[2] < totals[1] < totals[0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_classes": 0}, "num_classes must be >= 1"),
        ({"num_classes": 4, "input_size": (128, 256)}, "input_size must be square"),
        ({"num_classes": 4, "global_depth": 34}, "must be 18 or 50"),
        ({"num_classes": 4, "neighbourhood": 6}, "odd integer"),
        ({"num_classes": 4, "margin": 0.0}, "margin must be > 0"),
        ({"num_classes": 4, "rotation_weight": -1.0}, "loss weights must be >= 0"),
    ],
)
def test_invalid_options_are_rejected_before_building(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VAL(**options)
