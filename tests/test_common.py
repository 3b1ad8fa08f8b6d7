"""Shared training helpers: the batch augmentation and fractional epochs."""

import torch
import torch.nn.functional as F

from tarf.batches import augment_batch, epoch_fractions


def test_vectorised_augmentation_equals_per_image_crop_and_flip():
    x = torch.rand(16, 3, 8, 8)
    out = augment_batch(x, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)  # the same draws, applied one image at a time
    dx, dy = torch.randint(0, 9, (16,), generator=g), torch.randint(0, 9, (16,), generator=g)
    flip = torch.rand(16, generator=g) < 0.5
    padded = F.pad(x, (4, 4, 4, 4))
    ref = torch.stack([padded[i, :, dy[i]: dy[i] + 8, dx[i]: dx[i] + 8] for i in range(16)])
    ref[flip] = ref[flip].flip(-1)
    assert torch.equal(out, ref) and 0 < flip.sum() < 16


def test_epoch_fractions():
    assert epoch_fractions(2.5) == [1.0, 1.0, 0.5]
    assert epoch_fractions(0.25) == [0.25]
    assert epoch_fractions(3) == [1.0, 1.0, 1.0]
