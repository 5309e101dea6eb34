"""Writes the ResNet parity fixtures the engine is checked against (run with PyTorch + torchvision):

    python Tests/CheckpointTests/Fixtures/make_resnet_parity.py

A torchvision ResNet (BasicBlock, one block per stage) with stage widths 8-16-32-64 instead of
64-128-256-512: the same module classes, key names and layer shapes rules as resnet18, small enough
to commit. Outputs, in parity/:
  weights.pth, weights.safetensors  the initial state_dict, saved by torch.save and by safetensors
  expected.safetensors              input, target, eval logits, BN buffers after one training-mode
                                    forward, parameters after one SGD-momentum step and after one Adam step
"""
import os
import torch
import torch.nn as nn
from torchvision.models.resnet import ResNet, BasicBlock
from safetensors.torch import save_file

WIDTHS = [8, 16, 32, 64]


class NarrowResNet(ResNet):
    """torchvision's ResNet with narrower stages; everything else is torchvision's own code."""

    def __init__(self):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = WIDTHS[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, WIDTHS[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, WIDTHS[0], 1)
        self.layer2 = self._make_layer(BasicBlock, WIDTHS[1], 1, stride=2)
        self.layer3 = self._make_layer(BasicBlock, WIDTHS[2], 1, stride=2)
        self.layer4 = self._make_layer(BasicBlock, WIDTHS[3], 1, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(WIDTHS[3], 10)
        # Non-trivial BN affine parameters and running stats so eval mode really tests them.
        g = torch.Generator().manual_seed(1)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.data = 1 + 0.2 * torch.randn(m.weight.shape, generator=g)
                m.bias.data = 0.1 * torch.randn(m.bias.shape, generator=g)
                m.running_mean = 0.1 * torch.randn(m.running_mean.shape, generator=g)
                m.running_var = 1 + 0.3 * torch.rand(m.running_var.shape, generator=g)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parity")
    os.makedirs(out, exist_ok=True)

    model = NarrowResNet()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(model.state_dict(), os.path.join(out, "weights.pth"))
    save_file({k: v.contiguous() for k, v in initial.items()}, os.path.join(out, "weights.safetensors"))

    x = torch.randn(4, 3, 32, 32)
    target = torch.tensor([3, 1, 7, 0])
    expected = {"input": x, "target": target}

    model.eval()
    with torch.no_grad():
        expected["logits_eval"] = model(x)

    model.train()
    with torch.no_grad():
        model(x)
    for k, v in model.state_dict().items():
        if "running_" in k or "num_batches_tracked" in k:
            expected["after_train_forward." + k] = v.clone()

    def one_step(make_optimizer, prefix):
        model.load_state_dict(initial)
        model.train()
        opt = make_optimizer(model.parameters())
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        expected[prefix + ".loss"] = loss.detach().reshape(1)
        for k, v in model.named_parameters():
            expected[prefix + "." + k] = v.detach().clone()

    one_step(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4), "sgd")
    one_step(lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=5e-4), "adam")
    save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(out, "expected.safetensors"))


if __name__ == "__main__":
    main()
