"""The course's small CIFAR-style ResNet in PyTorch, with the engine's state-dict keys.

Mirrors `SmallResNet` in Sources/Models/SmallResNet.swift: a conv3x3 stem (no bias) + BN + ReLU,
three stages of two torchvision-style BasicBlocks with widths 16, 32, 64 (stride 2 and a
1x1 conv + BN projection named `downsample` at the start of stages 2 and 3), global average
pooling and `fc`. The attribute names are the engine's, so `state_dict()` has the same keys,
shapes and dtypes (`num_batches_tracked` is int64) and a file written by either side loads into
the other with strict checking.
"""

import torch
from torch import nn


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: two 3x3 convs with BN, and an identity or projected shortcut."""

    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class SmallResNet(nn.Module):
    """174,970 parameters for 1 input channel and 10 classes (174,645 for 5), as in the engine."""

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(16, 16, stride=1)
        self.layer2 = self._stage(16, 32, stride=2)
        self.layer3 = self._stage(32, 64, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        # torchvision's ResNet initialisation, which the engine's `initializeResNet` also follows.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _stage(in_planes, planes, stride):
        return nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes))

    @property
    def feature_count(self):
        """The input size of `fc` (64)."""
        return self.fc.in_features

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def small_resnet_for(state_dict):
    """A SmallResNet shaped like `state_dict` (input channels from `conv1.weight`, classes from
    `fc.weight`), so any small ResNet the engine wrote can be loaded without naming its sizes."""
    for key in ("conv1.weight", "fc.weight"):
        if key not in state_dict:
            raise ValueError(f"not a small ResNet state dict: it has no '{key}' "
                             f"(keys start with {sorted(state_dict)[:3]})")
    return SmallResNet(num_classes=state_dict["fc.weight"].shape[0],
                       in_channels=state_dict["conv1.weight"].shape[1])
