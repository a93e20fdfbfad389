"""brandmatch.training: samplers, losses, the shared trainer, checkpoints and seeding."""

from brandmatch.training.samplers import CategoryNegativeSampler, PairBatch, UniformNegativeSampler, make_sampler
from brandmatch.training.seeding import seed_everything, set_torch_threads
from brandmatch.training.trainer import Trainer, TrainConfig, TrainingOptions, TrainResult

__all__ = [
    "CategoryNegativeSampler", "PairBatch", "UniformNegativeSampler", "make_sampler",
    "seed_everything", "set_torch_threads", "Trainer", "TrainConfig", "TrainingOptions", "TrainResult",
]
