import math

import torch

from brandmatch.training.losses import LOSSES, global_cross_entropy, l1_penalty, score_difference, triplet_hinge


def test_triplet_hinge_reductions():
    pos = torch.tensor([3.0, 0.0, 1.0])
    neg = torch.tensor([0.0, 0.0, 2.0])
    # hinges with margin 2: max(0-3+2,0)=0, 2, 3
    assert torch.isclose(triplet_hinge(pos, neg, margin=2.0), torch.tensor(5.0 / 3))
    assert torch.isclose(triplet_hinge(pos, neg, margin=2.0, reduction="active"), torch.tensor(2.5))
    assert torch.isclose(triplet_hinge(pos, neg, margin=2.0, reduction="sum"), torch.tensor(5.0))
    assert triplet_hinge(pos, neg, margin=0.0, reduction="active") >= 0


def test_global_cross_entropy_modes():
    pos, neg = torch.tensor([2.0]), torch.tensor([-1.0])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expect = -math.log(sig(2.0)) - math.log(1 - sig(-1.0))
    assert abs(float(global_cross_entropy(pos, neg)) - expect) < 1e-6
    expect_pair = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(-1.0)))
    assert abs(float(global_cross_entropy(pos, neg, mode="pair_softmax")) - expect_pair) < 1e-6
    # stable for huge unbounded F
    big = global_cross_entropy(torch.tensor([1e4]), torch.tensor([-1e4]))
    assert torch.isfinite(big) and float(big) < 1e-6


def test_l1_over_weight_matrices():
    lin = torch.nn.Linear(2, 3)
    with torch.no_grad():
        lin.weight.fill_(-0.5)
        lin.bias.fill_(1.0)
    assert torch.isclose(l1_penalty(lin.parameters(), 0.001), torch.tensor(0.001 * 3.0))
    assert torch.isclose(l1_penalty(lin.parameters(), 0.001, include_biases=True), torch.tensor(0.001 * 6.0))


def test_score_difference_hand_computed():
    assert torch.isclose(score_difference(torch.tensor([3.0, 1.0]), torch.tensor([1.0, 2.0])), torch.tensor(-0.5))


def test_registered_signatures():
    pos, neg = torch.randn(5), torch.randn(5)
    assert {e.signature for e in LOSSES.values()} <= {"pairwise", "listwise"}
    for entry in LOSSES.values():
        if entry.signature == "pairwise":
            assert entry.fn(pos, neg).shape == ()
