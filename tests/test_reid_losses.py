"""Basic re-id losses against values computed by hand: batch-hard triplet (hard margin and soft
margin) and label-smoothed cross-entropy."""

from __future__ import annotations

import math

import pytest
import torch

from mtmc.reid.modeling.losses import batch_hard_triplet, cross_entropy_ls

# Four points on a line, ids (0, 0, 1, 1): pairwise distances d01 = 1, d02 = 3, d03 = 6, d12 = 2,
# d13 = 5, d23 = 3. Hardest positive / nearest negative per anchor: 0: (1, 3), 1: (1, 2),
# 2: (3, 2), 3: (3, 5), so d_p - d_n = (-2, -1, 1, -2).
LINE = [[0.0], [1.0], [3.0], [6.0]]
GAPS = [-2.0, -1.0, 1.0, -2.0]


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_batch_hard_triplet_with_margin_by_hand():
    features = torch.tensor(LINE, requires_grad=True)
    loss = batch_hard_triplet(features, torch.tensor([0, 0, 1, 1]), margin=0.3)
    assert loss.item() == pytest.approx(sum(max(0.0, g + 0.3) for g in GAPS) / 4)  # = 1.3 / 4
    loss.backward()
    # only anchor 2 is active: (d23 - d21 + 0.3) / 4 = ((x3 - x2) - (x2 - x1) + 0.3) / 4
    assert features.grad.flatten().tolist() == pytest.approx([0.0, 0.25, -0.5, 0.25])


def test_batch_hard_triplet_margin_one_and_a_half_by_hand():
    loss = batch_hard_triplet(torch.tensor(LINE), torch.tensor([0, 0, 1, 1]), margin=1.5)
    assert loss.item() == pytest.approx((0 + 0.5 + 2.5 + 0) / 4)


def test_batch_hard_triplet_soft_margin_by_hand():
    loss = batch_hard_triplet(torch.tensor(LINE), torch.tensor([0, 0, 1, 1]), margin=None)
    assert loss.item() == pytest.approx(sum(softplus(g) for g in GAPS) / 4)


def test_batch_hard_triplet_skips_anchors_without_a_positive():
    # ids (0, 0, 1, 2): anchors 2 and 3 have no positive; anchors 0 and 1 keep gaps -2 and -1
    pids = torch.tensor([0, 0, 1, 2])
    assert batch_hard_triplet(torch.tensor(LINE), pids, margin=1.5).item() == pytest.approx((0 + 0.5) / 2)
    assert batch_hard_triplet(torch.tensor(LINE), pids, margin=None).item() == pytest.approx(
        (softplus(-2) + softplus(-1)) / 2
    )


def test_batch_hard_triplet_no_usable_anchor_is_zero_and_differentiable():
    features = torch.tensor(LINE, requires_grad=True)
    for pids in ([0, 1, 2, 3], [5, 5, 5, 5]):  # no positives / no negatives
        loss = batch_hard_triplet(features, torch.tensor(pids))
        assert loss.item() == 0.0
        loss.backward()
        assert features.grad is not None and torch.all(features.grad == 0)


def test_batch_hard_triplet_uses_euclidean_distance_in_several_dimensions():
    # corners of a 3 x 4 rectangle, ids on the diagonals: every anchor's positive is 5 away (the
    # diagonal), its nearest negative 3 away (not 4, nor the squared 9 or a city-block 7)
    features = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0], [0.0, 4.0]])
    loss = batch_hard_triplet(features, torch.tensor([0, 0, 1, 1]), margin=0.0)
    assert loss.item() == pytest.approx(5.0 - 3.0, abs=1e-5)


# Logits log(1, 2, 1) -> p = (1/4, 1/2, 1/4). With K = 3 and eps = 0.3, q = 0.1 off target and
# 0.8 on it: target 1 gives -(0.2 ln 1/4 + 0.8 ln 1/2) = 1.2 ln 2, target 0 gives
# -(0.8 ln 1/4 + 0.1 ln 1/2 + 0.1 ln 1/4) = 1.9 ln 2.
LOGITS = [[0.0, math.log(2.0), 0.0]]


def test_cross_entropy_ls_by_hand():
    logits = torch.tensor(LOGITS * 2)
    loss = cross_entropy_ls(logits, torch.tensor([1, 0]), epsilon=0.3)
    assert loss.item() == pytest.approx((1.2 + 1.9) / 2 * math.log(2))


def test_cross_entropy_ls_ignores_negative_targets():
    logits = torch.tensor(LOGITS * 3, requires_grad=True)
    loss = cross_entropy_ls(logits, torch.tensor([1, -1, 0]), epsilon=0.3)
    assert loss.item() == pytest.approx((1.2 + 1.9) / 2 * math.log(2))
    loss.backward()
    assert torch.all(logits.grad[1] == 0) and logits.grad[0].abs().sum() > 0
    # d loss / d logits = (p - q) / 2 for a kept row: target 1 -> (0.25 - 0.1, 0.5 - 0.8, 0.25 - 0.1) / 2
    assert logits.grad[0].tolist() == pytest.approx([0.075, -0.15, 0.075])


def test_cross_entropy_ls_all_unknown_is_zero_and_differentiable():
    logits = torch.tensor(LOGITS * 2, requires_grad=True)
    loss = cross_entropy_ls(logits, torch.tensor([-1, -1]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_cross_entropy_ls_matches_torch_label_smoothing():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 5), torch.randint(0, 5, (6,))
    for eps in (0.0, 0.1):
        expected = torch.nn.functional.cross_entropy(logits, targets, label_smoothing=eps)
        assert cross_entropy_ls(logits, targets, epsilon=eps).item() == pytest.approx(
            expected.item(), rel=1e-6
        )


@pytest.mark.parametrize("epsilon", [-0.1, 1.0, 1.5])
def test_cross_entropy_ls_rejects_epsilon_outside_unit_interval(epsilon):
    with pytest.raises(ValueError, match=r"epsilon must lie in \[0, 1\)"):
        cross_entropy_ls(torch.zeros(1, 3), torch.tensor([0]), epsilon=epsilon)


def test_losses_decrease_over_a_few_steps():
    torch.manual_seed(0)
    features = torch.randn(8, 4, requires_grad=True)
    weight = torch.randn(4, 3, requires_grad=True)
    pids = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    optimizer = torch.optim.SGD([features, weight], lr=0.1)
    history = []
    for _ in range(20):
        loss = batch_hard_triplet(features, pids) + cross_entropy_ls(features @ weight, pids)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < 0.5 * history[0]
