"""The paper's networks: CIFAR ResNet-18 (3×3 stem, no max-pool) and WRN-50-2, any width and channels.

Built from torchvision's BasicBlock / Bottleneck. A per-channel normalisation layer sits inside
the model so that data stay in [0, 1] pixel space (BS's FGSM radius is defined there).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck

# Per-channel mean/std of each data set's training images (in [0, 1] pixel units).
NORMALISATION = {
    "fmnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
ARCHS = ("resnet18", "wrn50_2")


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class StridedPointwise(nn.Conv2d):
    """A 1×1 stride-s convolution computed as subsample-then-1×1 (the same function and weights).

    Why: on CPU, torch 2.14.1's oneDNN backward of a channels_last 1×1 stride-2 convolution corrupts
    memory (segfault / "double free") with 2 threads whenever the batch size is odd, which TARF's
    mixed batches nearly always are. Subsampling first avoids that kernel and is cheaper.
    """

    def forward(self, x):
        s = self.stride[0]
        return F.conv2d(x[:, :, ::s, ::s], self.weight, self.bias)


class CifarResNet(nn.Module):
    """ResNet with a 3×3 stride-1 stem and no max-pool (the baseline code base's CIFAR variant)."""

    def __init__(self, block, layers, num_classes, width=64, in_channels=3, mean=None, std=None,
                 width_per_group=64):
        super().__init__()
        mean = mean or (0.0,) * in_channels
        std = std or (1.0,) * in_channels
        self.normalize = Normalize(mean, std)
        self.inplanes = width
        self.base_width = width_per_group  # bottleneck inner width = planes · base_width / 64
        self.groups = 1
        self.dilation = 1
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, width, layers[0], 1)
        self.layer2 = self._make_layer(block, width * 2, layers[1], 2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], 2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                StridedPointwise(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        kw = {} if block is BasicBlock else {"base_width": self.base_width}
        layers = [block(self.inplanes, planes, stride, downsample, **kw)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, **kw) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x):
        """Penultimate (pooled) activations, used for t-SNE."""
        x = self.relu(self.bn1(self.conv1(self.normalize(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def build(arch: str, num_classes: int, width: int = 64, in_channels: int = 3,
          dataset: str | None = None) -> nn.Module:
    """ResNet-18 (BasicBlock [2,2,2,2]) or WRN-50-2 (Bottleneck [3,4,6,3], inner width ×2)."""
    mean, std = NORMALISATION.get(dataset, (None, None)) if dataset else (None, None)
    if arch == "resnet18":
        model = CifarResNet(BasicBlock, [2, 2, 2, 2], num_classes, width, in_channels, mean, std)
    elif arch == "wrn50_2":
        model = CifarResNet(Bottleneck, [3, 4, 6, 3], num_classes, width, in_channels, mean, std,
                            width_per_group=128)
    else:
        raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(ARCHS)}")
    return model.to(memory_format=torch.channels_last)
