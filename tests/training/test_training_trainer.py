"""The shared trainer: selection on the validation function only, checkpoints and resume."""

import numpy as np
import pytest
import torch

from brandmatch.data.schema import CooperationSet
from brandmatch.training.checkpoint import latest_checkpoint, load_checkpoint
from brandmatch.training.samplers import UniformNegativeSampler
from brandmatch.training.trainer import Trainer, TrainConfig, TrainingOptions


def _problem(seed=0):
    torch.manual_seed(seed)
    brands = [f"b{i}" for i in range(4)]
    infs = [f"m{j}" for j in range(12)]
    pairs = [(b, m) for i, b in enumerate(brands) for j, m in enumerate(infs) if j % 4 == i]
    co = CooperationSet(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    sampler = UniformNegativeSampler(co, infs)
    module = torch.nn.Embedding(len(sampler.brands) + len(sampler.influencers), 4)
    nb = len(sampler.brands)

    def loss(batch):
        eb = module(torch.from_numpy(batch.brands))
        ep = module(torch.from_numpy(batch.positives + nb))
        en = module(torch.from_numpy(batch.negatives + nb))
        return torch.clamp((eb * en).sum(-1) - (eb * ep).sum(-1) + 1, min=0).mean()

    return module, sampler, loss


def test_selection_takes_the_best_validation_epoch():
    module, sampler, loss = _problem()
    fake = iter([0.1, 0.5, 0.3, 0.2])
    snapshots = []

    def validate():
        snapshots.append({k: v.clone() for k, v in module.state_dict().items()})
        return {"MAP": next(fake)}

    res = Trainer(TrainConfig(epochs=4, batch_size=4, patience=None), TrainingOptions(progress=False)).fit(
        module, sampler, loss, validate)
    assert res.best_epoch == 2 and res.best_metric == 0.5
    assert torch.equal(module.weight, snapshots[1]["weight"])


def test_early_stopping_and_lower_is_better():
    module, sampler, loss = _problem()
    values = iter([5.0, 3.0, 4.0, 6.0, 7.0, 1.0])
    res = Trainer(TrainConfig(epochs=6, batch_size=4, patience=2, select_metric="MedR"),
                  TrainingOptions(progress=False)).fit(module, sampler, loss, lambda: {"MedR": next(values)})
    assert res.best_epoch == 2 and res.stopped_early and res.epochs_run == 4


def test_without_validation_keeps_last_epoch():
    module, sampler, loss = _problem()
    res = Trainer(TrainConfig(epochs=3, batch_size=4), TrainingOptions(progress=False)).fit(module, sampler, loss)
    assert res.best_epoch is None and res.epochs_run == 3


def test_checkpoints_are_complete_and_resume_is_exact(tmp_path):
    cfg = TrainConfig(epochs=5, batch_size=4, patience=None)
    m1, s1, l1 = _problem()
    Trainer(cfg, TrainingOptions(progress=False)).fit(m1, s1, l1, lambda: {"MAP": float(m1.weight.sum())})

    m2, s2, l2 = _problem()

    class Kill(Exception):
        pass

    def cb(rec):
        if rec["epoch"] == 3:
            raise Kill

    with pytest.raises(Kill):
        Trainer(cfg, TrainingOptions(checkpoint_dir=tmp_path, progress=False, callbacks=[cb])).fit(
            m2, s2, l2, lambda: {"MAP": float(m2.weight.sum())})
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt is not None and ckpt.name == "epoch-0003"
    tensors, meta = load_checkpoint(ckpt)
    assert meta["epoch"] == 3 and "rng.torch" in tensors
    assert len(list(tmp_path.glob("epoch-*"))) <= 2
    m3, s3, l3 = _problem(seed=123)  # different init: resume must overwrite it
    Trainer(cfg, TrainingOptions(checkpoint_dir=tmp_path, resume=True, progress=False)).fit(
        m3, s3, l3, lambda: {"MAP": float(m3.weight.sum())})
    assert torch.equal(m1.weight, m3.weight)


def test_interrupted_write_leaves_previous_checkpoint(tmp_path):
    from brandmatch.training.checkpoint import save_checkpoint

    save_checkpoint(tmp_path, 1, {"a": torch.zeros(2)}, {"epoch": 1})
    (tmp_path / ".epoch-0002.tmp-x").mkdir()  # a crashed write: never a final name
    assert latest_checkpoint(tmp_path).name == "epoch-0001"


def test_compiled_step_is_opt_in_and_its_update_matches_l1_plus_adam():
    """The opt-in fused L1 + Adam update (run here eagerly: tests never compile) equals the default
    path (lambda * sign(w) added to the gradients, then torch's fused Adam) up to float rounding."""
    from brandmatch.training.fused_step import _adam_l1_update
    from brandmatch.training.losses.l1 import add_l1_subgradient_

    assert TrainingOptions().compile_optimizer is False
    torch.manual_seed(0)
    a = [torch.nn.Parameter(torch.empty(8, 5).uniform_(-0.1, 0.1)), torch.nn.Parameter(torch.randn(8))]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    opt_a = torch.optim.Adam(a, lr=0.002, fused=True, weight_decay=0.01)
    opt_b = torch.optim.Adam(b, lr=0.002, fused=True, weight_decay=0.01)
    for step in range(5):
        grads = [torch.randn_like(p) for p in a]
        for p, g in zip(a, grads):
            p.grad = g.clone()
        add_l1_subgradient_(a, 0.001)
        opt_a.step()
        with torch.no_grad():
            for p in b:
                st = opt_b.state[p]
                if not st:
                    st.update(step=torch.zeros(()), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            _adam_l1_update(b, grads, [opt_b.state[p]["exp_avg"] for p in b], [opt_b.state[p]["exp_avg_sq"] for p in b],
                            [opt_b.state[p]["step"] for p in b], (True, False), torch.tensor(0.002),
                            beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, lam=0.001)
    for p, q in zip(a, b):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
    assert float(opt_b.state[b[0]]["step"]) == 5.0


def test_checkpoint_every_n_epochs_resumes_exactly(tmp_path):
    cfg = TrainConfig(epochs=5, batch_size=4, patience=None)
    m1, s1, l1 = _problem()
    Trainer(cfg, TrainingOptions(progress=False)).fit(m1, s1, l1, lambda: {"MAP": float(m1.weight.sum())})

    class Kill(Exception):
        pass

    def cb(rec):
        if rec["epoch"] == 3:
            raise Kill

    m2, s2, l2 = _problem()
    with pytest.raises(Kill):
        Trainer(cfg, TrainingOptions(checkpoint_dir=tmp_path, progress=False, callbacks=[cb], checkpoint_every=2)).fit(
            m2, s2, l2, lambda: {"MAP": float(m2.weight.sum())})
    assert [p.name for p in sorted(tmp_path.glob("epoch-*"))] == ["epoch-0002"]  # not after epoch 1 or 3
    m3, s3, l3 = _problem(seed=123)
    Trainer(cfg, TrainingOptions(checkpoint_dir=tmp_path, resume=True, progress=False, checkpoint_every=2)).fit(
        m3, s3, l3, lambda: {"MAP": float(m3.weight.sum())})
    assert torch.equal(m1.weight, m3.weight)
    # the last epoch (5, not a multiple of 2) is always written
    assert latest_checkpoint(tmp_path).name == "epoch-0005"


def _killed_run(tmp_path, kill_at=2):
    cfg = TrainConfig(epochs=4, batch_size=4, patience=None)
    m, s, l = _problem()

    class Kill(Exception):
        pass

    def cb(rec):
        if rec["epoch"] == kill_at:
            raise Kill

    with pytest.raises(Kill):
        Trainer(cfg, TrainingOptions(checkpoint_dir=tmp_path, progress=False, callbacks=[cb])).fit(
            m, s, l, lambda: {"MAP": float(m.weight.sum())})
    return cfg


def test_corrupted_checkpoint_is_refused_not_resumed(tmp_path):
    """Flipped bits in state.safetensors still parse (they hit tensor data), so only the sha256
    recorded in trainer.json can tell: resume must stop with a one-line ModelError naming the file."""
    from brandmatch.errors import ModelError
    from safetensors.torch import load_file

    cfg = _killed_run(tmp_path)
    ckpt = latest_checkpoint(tmp_path)
    state = ckpt / "state.safetensors"
    before = {k: v.clone() for k, v in load_file(str(state)).items()}
    data = bytearray(state.read_bytes())
    data[-3] ^= 0xFF  # inside the last tensor's bytes
    state.write_bytes(bytes(data))
    after = load_file(str(state))  # still a valid safetensors file, with other numbers
    assert any(not torch.equal(before[k], after[k]) for k in before)
    m, s, l = _problem(seed=5)
    with pytest.raises(ModelError) as info:
        Trainer(cfg, TrainingOptions(checkpoint_dir=tmp_path, resume=True, progress=False)).fit(
            m, s, l, lambda: {"MAP": float(m.weight.sum())})
    msg = str(info.value)
    assert msg.startswith(f"{state}: checksum does not match trainer.json") and "\n" not in msg


def test_checkpoint_without_checksum_or_with_bad_metadata_is_refused(tmp_path):
    import json

    from brandmatch.errors import ModelError
    from brandmatch.training.checkpoint import save_checkpoint

    ckpt = save_checkpoint(tmp_path, 1, {"a": torch.zeros(2)}, {"epoch": 1})
    meta = json.loads((ckpt / "trainer.json").read_text())
    assert len(meta["state_sha256"]) == 64
    tensors, _ = load_checkpoint(ckpt)
    assert torch.equal(tensors["a"], torch.zeros(2))
    del meta["state_sha256"]
    (ckpt / "trainer.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"trainer\.json: no state_sha256"):
        load_checkpoint(ckpt)
    (ckpt / "trainer.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"trainer\.json: unreadable checkpoint metadata"):
        load_checkpoint(ckpt)
