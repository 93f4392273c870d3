"""The prepared file of a dataset, written by ``poolstudy.data.prepare`` and read by every job
after it.

The prepared file (``torch.save``) holds uint8 images [N, C, H, W] on the configured canvas,
int64 labels, and a split code per image (0 train, 1 validation, 2 test) drawn with a fixed
seed, so every run of every operator sees the same split. It also records the sha256 of its
content (``atomic.tensor_digest``), checked on load: a truncated or altered file is refused
with the command that rebuilds it.

Kept apart from the preparing and the dataset registry, outside the ``data`` package (whose
``__init__`` holds the registry and would run on the import of any module in it): training
and evaluation run this module alone of them, so editing how a dataset is made reruns them
only where the file it makes changes (``poolstudy.phases``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from poolstudy.atomic import atomic_path, check_digest, damaged, load_torch_file, tensor_digest

SPLITS = ("train", "val", "test")


@dataclass
class PreparedDataset:
    name: str
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]
    split: torch.Tensor  # uint8 [N]: index into SPLITS
    classes: list[str]
    sha256: str | None = None  # content hash, as recorded in (and checked against) its file

    def content_digest(self) -> str:
        """The sha256 of the tensors and the metadata this file records."""
        tensors = {"images": self.images, "labels": self.labels, "split": self.split}
        return tensor_digest(tensors, {"name": self.name, "classes": list(self.classes)})

    def subset(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self.split == SPLITS.index(split)
        return self.images[mask], self.labels[mask]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])


def save_prepared(prepared: PreparedDataset, path: str | os.PathLike) -> None:
    """Write the prepared file atomically, with the sha256 of its content."""
    prepared.sha256 = prepared.content_digest()
    payload = {
        "name": prepared.name,
        "images": prepared.images.contiguous(),
        "labels": prepared.labels,
        "split": prepared.split,
        "classes": prepared.classes,
        "sha256": prepared.sha256,
    }
    # A file object, not a path: torch.save would record the temporary name in the archive.
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)


def rebuild_hint(path: str | os.PathLike) -> str:
    """How to rebuild a prepared file: Snakemake remakes an output that is missing."""
    return (
        f"rebuild it: `rm {path}` and rerun `snakemake --cores all` (or rebuild every "
        "prepared dataset with `snakemake --cores all --forcerun prepare`)"
    )


def load_prepared(path: str | os.PathLike) -> PreparedDataset:
    """Read a prepared file back; a damaged one raises ``atomic.CorruptFile`` naming the file
    and the command that rebuilds it."""
    remedy = rebuild_hint(path)
    payload = load_torch_file(path, remedy)
    fields = {"name", "images", "labels", "split", "classes", "sha256"}
    if not {"name", "images", "labels", "split", "classes"} <= set(payload) <= fields:
        raise damaged(path, f"it holds {', '.join(sorted(payload))}, not a dataset", remedy)
    check_field_types(path, payload, remedy)
    prepared = PreparedDataset(**payload)
    check_digest(path, prepared.sha256, prepared.content_digest(), remedy)
    return prepared


FIELD_TYPES = {
    "name": (str, "a string"),
    "images": (torch.Tensor, "a tensor"),
    "labels": (torch.Tensor, "a tensor"),
    "split": (torch.Tensor, "a tensor"),
    "classes": (list, "a list"),
    "sha256": (str, "a string"),
}
"""What each entry of a prepared file must be (``sha256`` may be absent: an older file)."""


def check_field_types(path, payload: dict, remedy: str) -> None:
    """``atomic.CorruptFile`` where an entry of the file is not of its type (the content hash
    could not even be computed)."""
    for field, (kind, described) in FIELD_TYPES.items():
        value = payload.get(field)
        if field in payload and not isinstance(value, kind):
            detail = f"its {field} is a {type(value).__name__}, not {described}"
            raise damaged(path, detail, remedy)
