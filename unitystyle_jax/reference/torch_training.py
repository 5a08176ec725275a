"""The PyTorch IDE baseline users compare against: `torch_reference.IDE` trained with the JAX IDE's recipe on
the same batches, then scored by the same protocol.

Same recipe: SGD with Nesterov momentum and weight decay on every parameter (PyTorch's SGD adds the decay to
the gradient before the momentum, as `optax.add_decayed_weights` + `optax.sgd` do), one learning rate for the
backbone and one for the head, the same warm-up and step decays. Same batches: the real-image tf.data pipeline
of `data.pipeline` with the same seed, so the two frameworks see identical images in identical order; only the
initial weights and the dropout masks come from each framework's own generator. torch is a test-only
dependency: import this module only when it is installed.
"""

import json
import logging
import os
import time

import numpy as np
import torch

from unitystyle_jax.data import pipeline
from unitystyle_jax.reference.torch_models import IDE

CHECKPOINT = "torch_ide.pt"


def learning_rate_factor(step: int, reid_config) -> float:
    """The JAX schedule's factor at 0-based `step`: x decay_factor per decay step reached, linear warm-up."""
    factor = reid_config.decay_factor ** sum(step >= int(s) for s in reid_config.decay_steps)
    if reid_config.warmup_steps:
        factor *= min(1.0, (step + 1) / reid_config.warmup_steps)
    return factor


def create(config, num_classes: int):
    """(model, optimizer) seeded by config.seed, with the backbone / head learning-rate groups."""
    torch.manual_seed(config.seed)
    m, r = config.model, config.reid
    model = IDE(num_classes, m.depth, m.width, m.last_stride, m.ibn, m.bottleneck_dim, m.dropout)
    backbone = list(model.backbone.parameters())
    ids = {id(p) for p in backbone}
    head = [p for p in model.parameters() if id(p) not in ids]
    optimizer = torch.optim.SGD(
        [
            {"params": backbone, "lr": r.backbone_learning_rate, "base_lr": r.backbone_learning_rate},
            {"params": head, "lr": r.learning_rate, "base_lr": r.learning_rate},
        ],
        lr=r.learning_rate,
        momentum=r.momentum,
        nesterov=r.nesterov,
        weight_decay=r.weight_decay,
    )
    return model, optimizer


def _nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(images).transpose(0, 3, 1, 2)))


def train(config, workdir: str, splits) -> IDE:
    """Trains the real-image IDE of config for config.reid.num_steps, or loads it when WORKDIR holds the
    finished model (an interrupted run starts again: it is the cheapest row)."""
    model, optimizer = create(config, splits.num_train_ids)
    path = os.path.join(workdir, CHECKPOINT)
    r = config.reid
    if os.path.exists(path):
        saved = torch.load(path, weights_only=True)
        if saved["step"] == r.num_steps:
            model.load_state_dict(saved["model"])
            return model
    os.makedirs(workdir, exist_ok=True)
    batches = pipeline.reid_train_batches(
        splits.train, None, config.data, r.batch_size, config.seed, 0, r.num_steps
    )
    model.train()
    began, log = time.perf_counter(), []
    for step in range(r.num_steps):
        batch = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * learning_rate_factor(step, r)
        logits = model(_nchw(batch["image"]))["logits"]
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(batch["label"]).long())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % r.log_every == 0 or step + 1 == r.num_steps:
            log.append(
                {"step": step + 1, "loss": float(loss), "seconds": round(time.perf_counter() - began, 1)}
            )
            logging.info("torch IDE step %d/%d loss %.4g", step + 1, r.num_steps, float(loss))
    with open(os.path.join(workdir, "torch_metrics.json"), "w") as f:
        json.dump(log, f, indent=2)
    torch.save({"step": r.num_steps, "model": model.state_dict()}, path + ".tmp")
    os.replace(path + ".tmp", path)
    return model


@torch.no_grad()
def features(model: IDE, records, config) -> np.ndarray:
    """L2-normalised pooled features (mirror-averaged with config.eval.flip), as the JAX evaluation's."""
    model.eval()
    chunks = []
    for images, count in pipeline.ordered_batches(
        records, config.data.height, config.data.width, config.eval.batch_size
    ):
        x = _nchw(images[:count])
        f = model.backbone(x)
        if config.eval.flip:
            f = f + model.backbone(torch.flip(x, dims=[3]))
        chunks.append(torch.nn.functional.normalize(f, dim=1).numpy())
    return np.concatenate(chunks)
