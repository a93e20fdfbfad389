"""The fast dropout masks: distribution, scaling, determinism, gradients, fallback."""

import pytest
import torch

from brandmatch.models.dropout import bernoulli_half_mask, dropout


def test_half_mask_is_binary_balanced_and_uncorrelated():
    torch.manual_seed(0)
    m = bernoulli_half_mask((400, 1000))
    assert m.shape == (400, 1000) and m.dtype == torch.float32
    assert set(torch.unique(m).tolist()) == {0.0, 1.0}
    # 400,000 fair coins: mean 0.5 +- 5 sigma (sigma = 0.5 / sqrt(4e5) ~ 0.0008)
    assert abs(m.mean().item() - 0.5) < 0.004
    # every bit position of the 32-bit words is fair (columns 0..31 of a (n, 32) view)
    per_bit = m.reshape(-1, 32).mean(0)
    assert (per_bit - 0.5).abs().max().item() < 0.015
    # neighbouring entries (adjacent bits of one word) are independent: P(both 1) ~ 1/4
    both = (m[:, :-1] * m[:, 1:]).mean().item()
    assert abs(both - 0.25) < 0.004


def test_half_mask_odd_sizes_and_seeding():
    torch.manual_seed(3)
    a = bernoulli_half_mask((3, 5, 7))
    torch.manual_seed(3)
    b = bernoulli_half_mask((3, 5, 7))
    assert a.shape == (3, 5, 7) and torch.equal(a, b)
    assert not torch.equal(a, bernoulli_half_mask((3, 5, 7)))  # the generator advanced


def test_dropout_scales_kept_entries_and_preserves_the_mean():
    torch.manual_seed(1)
    x = torch.full((200, 500), 3.0)
    y = dropout(x, 0.5, True)
    assert set(torch.unique(y).tolist()) == {0.0, 6.0}  # kept entries x 1 / (1 - p)
    assert abs(y.mean().item() - 3.0) < 0.05


def test_dropout_gradient_is_the_mask_times_two():
    torch.manual_seed(2)
    x = torch.randn(8, 64, requires_grad=True)
    y = dropout(x, 0.5, True)
    y.sum().backward()
    kept = y.detach() != 0
    assert torch.equal(x.grad, kept.float() * 2.0)


def test_eval_mode_and_zero_p_are_the_identity_and_other_p_falls_back():
    x = torch.randn(4, 6)
    assert dropout(x, 0.5, False) is x
    assert dropout(x, 0.0, True) is x
    torch.manual_seed(0)
    y = dropout(torch.ones(1000, 100), 0.2, True)
    values = torch.unique(y)
    assert len(values) == 2 and values[0].item() == 0.0 and values[1].item() == pytest.approx(1.25)
    assert abs((y == 0).float().mean().item() - 0.2) < 0.01
