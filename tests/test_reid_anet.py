"""AttributeNet (Quispe et al.): the Amelioration Constraint and attribute-pattern triplet by hand,
the Joint Module's structure, the two-step schedule, unknown attribute labels, training steps."""

import math

import pytest
import torch

from mtmc.reid.modeling import build_model
from mtmc.reid.modeling.losses import batch_hard_triplet, cross_entropy_ls
from mtmc.reid.modeling.losses.amelioration import (
    amelioration_id,
    amelioration_triplet,
    attribute_pattern_triplet,
    attribute_patterns,
)
from mtmc.reid.modeling.meta_arch.anet import AttributeNet, JointModule

STAGE_ONE = {"tri_f", "id_f", "att_colour", "att_type", "tri_g", "tri_j", "id_j"}
STAGE_TWO = {"att_colour", "att_type", "tri_g", "tri_j", "id_j", "ac_tri", "ac_id"}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def tiny_model(**options) -> AttributeNet:
    torch.manual_seed(0)
    return build_model("anet", num_classes=2, depth=18, first_stage_epochs=3, **options)


def tiny_batch() -> dict[str, torch.Tensor]:
    """P=2 ids x K=2 images of 64x64, each id with one colour and one type."""
    torch.manual_seed(1)
    return {
        "images": torch.randn(4, 3, 64, 64),
        "pids": torch.tensor([0, 0, 1, 1]),
        "colours": torch.tensor([3, 3, 7, 7]),
        "types": torch.tensor([1, 1, 4, 4]),
    }


def test_amelioration_id_by_hand():
    # j: uniform over 2 classes -> L^j = ln 2; f: p(target) = 3/4 -> L^f = ln 4/3
    # AC_ID = softplus(ln 2 - ln 4/3) = ln(1 + 3/2)
    logits_j = torch.tensor([[0.0, 0.0]])
    logits_f = torch.tensor([[math.log(3.0), 0.0]])
    value = amelioration_id(logits_j, logits_f, torch.tensor([0]), epsilon=0.0)
    assert value.item() == pytest.approx(math.log(2.5), abs=1e-6)
    # the mean over images; swapping roles gives softplus(-ln 3/2) = ln(1 + 2/3)
    both = amelioration_id(
        torch.cat([logits_j, logits_f]), torch.cat([logits_f, logits_j]), torch.tensor([0, 0]), epsilon=0.0
    )
    assert both.item() == pytest.approx((math.log(2.5) + math.log(5 / 3)) / 2, abs=1e-6)


def test_amelioration_id_uses_the_label_smoothed_id_loss():
    torch.manual_seed(0)
    logits_j, logits_f, pids = torch.randn(1, 5), torch.randn(1, 5), torch.tensor([2])
    difference = cross_entropy_ls(logits_j, pids, 0.1) - cross_entropy_ls(logits_f, pids, 0.1)
    expected = softplus(difference.item())
    assert amelioration_id(logits_j, logits_f, pids, 0.1).item() == pytest.approx(expected, abs=1e-6)


def test_amelioration_triplet_by_hand():
    # 1-D features, ids [0, 0, 1, 1]; I+ / I- are the hardest positive / nearest negative under j
    pids = torch.tensor([0, 0, 1, 1])
    j = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    f = torch.tensor([[0.0], [2.0], [3.0], [4.0]])
    per_anchor = [
        softplus(1 - 2) + softplus(3 - 3),  # anchor 0: I+ = 1 (dj 1, df 2), I- = 2 (dj 3, df 3)
        softplus(1 - 2) + softplus(1 - 2),  # anchor 1: I+ = 0 (dj 1, df 2), I- = 2 (dj 2, df 1)
        softplus(2 - 1) + softplus(1 - 2),  # anchor 2: I+ = 3 (dj 2, df 1), I- = 1 (dj 2, df 1)
        softplus(2 - 1) + softplus(2 - 4),  # anchor 3: I+ = 2 (dj 2, df 1), I- = 1 (dj 4, df 2)
    ]
    value = amelioration_triplet(j, f, pids)
    assert value.item() == pytest.approx(sum(per_anchor) / 4, abs=1e-5)


def test_amelioration_triplet_is_lower_when_j_separates_better():
    pids = torch.tensor([0, 0, 1, 1])
    f = torch.tensor([[0.0], [2.0], [3.0], [4.0]])
    better = torch.tensor([[0.0], [0.5], [6.0], [6.5]])
    worse = torch.tensor([[0.0], [3.0], [3.5], [4.0]])
    same = amelioration_triplet(f, f, pids)
    assert amelioration_triplet(better, f, pids) < same < amelioration_triplet(worse, f, pids)
    # j == f: every term is softplus(0)
    assert same.item() == pytest.approx(2 * math.log(2), abs=1e-6)


def test_attribute_patterns_and_their_triplet_ignore_unknown_labels():
    colours = torch.tensor([0, 1, -1, 2, 1])
    types = torch.tensor([1, -1, 0, 2, 1])
    patterns = attribute_patterns([colours, types], [3, 3])
    assert patterns.tolist() == [1, -1, -1, 8, 4]

    torch.manual_seed(0)
    g = torch.randn(5, 6, requires_grad=True)
    patterns = torch.tensor([0, -1, 0, 1, 1])
    loss = attribute_pattern_triplet(g, patterns, margin=0.3)
    known = patterns >= 0
    assert loss.item() == pytest.approx(batch_hard_triplet(g[known], patterns[known], 0.3).item())
    loss.backward()
    assert g.grad[1].abs().sum() == 0
    assert g.grad[known].abs().sum() > 0

    nothing = attribute_pattern_triplet(g, torch.full((5,), -1), margin=0.3)
    assert nothing.item() == 0.0


def test_joint_module_shapes_and_structure():
    torch.manual_seed(0)
    joint = JointModule(16)
    feature_map = torch.randn(2, 16, 4, 3)
    attribute_maps = [torch.randn(2, 16, 4, 3), torch.randn(2, 16, 4, 3)]
    merged, distilled, joint_map = joint(feature_map, attribute_maps)
    assert merged.shape == distilled.shape == joint_map.shape == (2, 16, 4, 3)
    torch.testing.assert_close(joint_map, feature_map + distilled)  # Eq. 7
    assert (distilled >= 0).all()  # theta_g1 ends in ReLU

    # Eq. 5: G = S + theta_A(S); with theta_A's output zeroed, G is the plain sum
    summed = attribute_maps[0] + attribute_maps[1]
    assert (merged - summed >= -1e-6).all()
    with torch.no_grad():
        joint.theta_a[1].weight.zero_()
        joint.theta_a[1].bias.zero_()
        joint.theta_g1[1].weight.zero_()
        joint.theta_g1[1].bias.zero_()
    merged, distilled, joint_map = joint(feature_map, attribute_maps)
    torch.testing.assert_close(merged, summed)
    assert distilled.abs().sum() == 0
    torch.testing.assert_close(joint_map, feature_map)


def test_train_and_eval_outputs():
    model = tiny_model()
    batch = tiny_batch()
    outputs = model(batch["images"])
    assert outputs["feature_f"].shape == outputs["feature_j"].shape == (4, 512)
    assert outputs["logits_f"].shape == outputs["logits_j"].shape == (4, 2)
    assert outputs["feature_g"].shape == (4, model.backbone.out_channels)
    assert outputs["logits_colour"].shape == (4, 10)
    assert outputs["logits_type"].shape == (4, 9)

    model.eval()
    feature = model(batch["images"])
    assert feature.shape == (4, model.feature_dim) == (4, 512)
    probabilities = model.attributes(batch["images"])
    assert probabilities["colour"].shape == (4, 10)
    assert probabilities["type"].shape == (4, 9)
    for value in probabilities.values():
        assert (value >= 0).all()
        torch.testing.assert_close(value.sum(1), torch.ones(4))


def test_stage_switch_changes_losses_and_frozen_parameters():
    model = tiny_model()
    batch = tiny_batch()

    model.on_epoch(2)
    assert model.stage == 1
    losses = model.losses(model(batch["images"]), batch)
    assert set(losses) == STAGE_ONE
    sum(losses.values()).backward()
    assert model.backbone.stem[0].weight.grad.abs().sum() > 0
    assert model.head_f.fc.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)

    model.on_epoch(3)  # first_stage_epochs=3: step two starts
    assert model.stage == 2
    model.train()
    assert not model.backbone.training and not model.head_f.training
    assert model.joint.training and model.head_j.training
    running_mean = model.backbone.stem[1].running_mean.clone()
    losses = model.losses(model(batch["images"]), batch)
    assert set(losses) == STAGE_TWO
    sum(losses.values()).backward()
    torch.testing.assert_close(model.backbone.stem[1].running_mean, running_mean)  # frozen BN statistics
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.head_f.parameters())
    for trained in (model.joint, model.head_j, model.attribute_branches):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained.parameters())

    model.on_epoch(0)  # back to step one (e.g. a restarted run): everything trains again
    assert all(p.requires_grad for p in model.backbone.parameters())
    assert not model.head_f.neck.bn.bias.requires_grad  # BNNeck's bias stays fixed


def test_unknown_attribute_labels_are_ignored():
    model = tiny_model()
    batch = tiny_batch()
    outputs = model(batch["images"])
    batch["colours"] = torch.tensor([3, -1, 7, -1])
    losses = model.losses(outputs, batch)
    expected = cross_entropy_ls(outputs["logits_colour"][[0, 2]], torch.tensor([3, 7]), 0.1)
    assert losses["att_colour"].item() == pytest.approx(expected.item(), abs=1e-6)
    # samples 1 and 3 have no pattern: the pattern triplet sees ids 0 and 1 only once -> no positive
    assert losses["tri_g"].item() == 0.0

    logits = outputs["logits_colour"].detach().requires_grad_(True)
    model.losses({**outputs, "logits_colour": logits}, batch)["att_colour"].backward()
    assert logits.grad[[1, 3]].abs().sum() == 0
    assert logits.grad[[0, 2]].abs().sum() > 0

    del batch["colours"], batch["types"]  # a dataset without attributes
    losses = model.losses(outputs, batch)
    assert losses["att_colour"].item() == losses["att_type"].item() == losses["tri_g"].item() == 0.0
    assert all(torch.isfinite(v) for v in losses.values())


def test_losses_finite_and_decreasing_in_both_steps():
    model = tiny_model()
    batch = tiny_batch()
    for epoch in (0, 3):
        model.on_epoch(epoch)
        model.train()
        optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-4)
        totals = []
        for _ in range(4):
            losses = model.losses(model(batch["images"]), batch)
            assert all(torch.isfinite(v) for v in losses.values())
            total = sum(losses.values())
            optimiser.zero_grad()
            total.backward()
            optimiser.step()
            totals.append(total.item())
        assert totals[-1] < totals[0], (epoch, totals)


def test_invalid_arguments_and_labels_are_explained():
    with pytest.raises(ValueError, match="num_colours must be an integer >= 2, got 1"):
        AttributeNet(num_classes=4, num_colours=1, depth=18)
    with pytest.raises(ValueError, match="first_stage_epochs must be an integer >= 0, got -1"):
        AttributeNet(num_classes=4, first_stage_epochs=-1, depth=18)
    with pytest.raises(ValueError, match="stage must be 1 or 2"):
        tiny_model().set_stage(3)
    model = tiny_model(num_types=3)
    batch = tiny_batch()
    with pytest.raises(ValueError, match=r"num_types=3: labels must lie in \[0, 2\] or be -1"):
        model.losses(model(batch["images"]), batch)
