"""Regenerates the NNTests fixtures with PyTorch + torchvision (run by hand; outputs are committed):

    /opt/torchenv/bin/python Tests/NNTests/Fixtures/generate_fixtures.py
"""
import json
import math
import os

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, conv1x1, conv3x3

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, text):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)


def keys_and_shapes(model):
    return "".join(f"{k} {list(v.shape)} {str(v.dtype)}\n" for k, v in model.state_dict().items())


class SmallResNet(nn.Module):
    """The workbook's small CIFAR-style ResNet, written the PyTorch way."""

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.inplanes = 16
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, 2)
        self.layer2 = self._make_layer(32, 2, stride=2)
        self.layer3 = self._make_layer(64, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


def structure_fixtures():
    r18 = torchvision.models.resnet18()
    write("resnet18_state_dict.txt", keys_and_shapes(r18))
    write("resnet18_print.txt", str(r18))
    write("resnet50_state_dict.txt", keys_and_shapes(torchvision.models.resnet50()))
    write("vgg11_bn_state_dict.txt", keys_and_shapes(torchvision.models.vgg11_bn(num_classes=10)))
    write("vgg11_bn_print.txt", str(torchvision.models.vgg11_bn(num_classes=10)))
    small = SmallResNet()
    write("small_resnet_print.txt", str(small))
    write("small_resnet_state_dict.txt", keys_and_shapes(small))
    misc = nn.Sequential(nn.Conv2d(1, 8, 3, stride=1, padding=1, dilation=2, groups=1, bias=True),
                         nn.BatchNorm1d(8, eps=1e-3, momentum=None, affine=False, track_running_stats=False),
                         nn.MaxPool2d((2, 3)), nn.AvgPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                         nn.Identity(), nn.Linear(4, 2, bias=False), nn.Softmax(dim=1), nn.LogSoftmax(dim=-1),
                         nn.Conv2d(4, 8, (1, 3), stride=(2, 1), groups=4), nn.CrossEntropyLoss())
    write("misc_print.txt", str(misc))


def optimizer_fixtures():
    """Three steps of each optimizer on fixed parameters and gradients."""
    p0 = [0.5, -1.0, 2.0, 0.0, -0.25, 1.5]
    grads = [[0.1, -0.2, 0.3, -0.4, 0.5, -0.6], [0.05, 0.4, -0.3, 0.2, -0.1, 0.0], [-0.3, 0.1, 0.2, 0.6, -0.5, 0.25]]
    configs = {
        "sgd_plain": (torch.optim.SGD, dict(lr=0.1)),
        "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
        "sgd_nesterov_wd": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
        "sgd_dampening_wd": (torch.optim.SGD, dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.1)),
        "adam": (torch.optim.Adam, dict(lr=0.01)),
        "adam_wd": (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
        "adamw": (torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
        "rmsprop": (torch.optim.RMSprop, dict(lr=0.01)),
        "rmsprop_centered_momentum_wd": (torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    }
    out = {"initial": p0, "grads": grads, "runs": {}}
    for name, (cls, kw) in configs.items():
        p = torch.tensor(p0, requires_grad=True)
        opt = cls([p], foreach=False, **kw)
        steps = []
        for g in grads:
            p.grad = torch.tensor(g)
            opt.step()
            steps.append(p.detach().tolist())
        out["runs"][name] = steps
    write("optimizers.json", json.dumps(out, indent=1))


def scheduler_fixtures():
    def run(make, n, metrics=None, base=0.1):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=base, momentum=0.9)
        sched = make(opt)
        lrs, moms = [sched.get_last_lr()[0]], [opt.param_groups[0]["momentum"]]
        for i in range(n):
            opt.step()
            sched.step(metrics[i]) if metrics is not None else sched.step()
            lrs.append(sched.get_last_lr()[0] if metrics is None else opt.param_groups[0]["lr"])
            moms.append(opt.param_groups[0]["momentum"])
        return {"lr": lrs, "momentum": moms}

    S = torch.optim.lr_scheduler
    plateau_metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    out = {
        "step": run(lambda o: S.StepLR(o, step_size=3, gamma=0.5), 10),
        "multistep": run(lambda o: S.MultiStepLR(o, milestones=[2, 5, 6], gamma=0.1), 8),
        "cosine": run(lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=0.001), 14),
        "linear": run(lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), 7),
        "onecycle": run(lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=10), 9),
        "plateau_min": run(lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=0.02),
                           len(plateau_metrics), metrics=plateau_metrics),
        "plateau_max_abs": run(lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.1, patience=1, threshold=0.05, threshold_mode="abs"),
                               6, metrics=[0.5, 0.52, 0.6, 0.61, 0.62, 0.63]),
        "plateau_metrics": plateau_metrics,
    }
    write("schedulers.json", json.dumps(out, indent=1))


def clipping_fixtures():
    a = torch.tensor([3.0, -4.0], requires_grad=True)
    b = torch.tensor([[1.0, 2.0], [-2.0, 0.5]], requires_grad=True)
    out = {}
    for norm_type in (2.0, 1.0, math.inf):
        for max_norm in (1.0, 100.0):
            a.grad = torch.tensor([3.0, -4.0])
            b.grad = torch.tensor([[1.0, 2.0], [-2.0, 0.5]])
            total = torch.nn.utils.clip_grad_norm_([a, b], max_norm, norm_type=norm_type)
            out[f"{norm_type}_{max_norm}"] = {"total": total.item(), "a": a.grad.tolist(), "b": sum(b.grad.tolist(), [])}
    write("clipping.json", json.dumps(out, indent=1))


if __name__ == "__main__":
    structure_fixtures()
    optimizer_fixtures()
    scheduler_fixtures()
    clipping_fixtures()
