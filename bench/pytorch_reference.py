#!/usr/bin/env python3
"""PyTorch side of the engine benchmark: the workloads of `Bench --models` (bench/Sources/Bench/
ModelBench.swift) in PyTorch, in NCHW and channels_last memory formats.

    python bench/pytorch_reference.py [--only NAME[,NAME]] [--quick] [--json FILE]

torch.set_num_threads(2) (or $WORKBOOK_THREADS); medians after warm-up. The JSON has, per
workload, {"nchw": {"ms", "img_s", ...}, "channels_last": {...}}. Peak memory is measured in a
fresh child process per memory format so that peaks don't mix.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

THREADS = int(os.environ.get("WORKBOOK_THREADS", "2"))
torch.set_num_threads(THREADS)
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
NAMES = ["small_train_b128", "small_eval_b512", "r18_eval_b8", "r50_eval_b8", "r18_train_b8",
         "feature_extraction", "r50_train_b8_peak_rss"]


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class SmallResNet(nn.Module):
    """The course's small CIFAR-style ResNet (16-32-64, 2 blocks per stage)."""

    def __init__(self, classes=10, cin=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, c = [], 16
        for width, stride in [(16, 1), (32, 2), (64, 2)]:
            layers.append(nn.Sequential(BasicBlock(c, width, stride), BasicBlock(width, width, 1)))
            c = width
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, classes)

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))


def median_seconds(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def train_step(model, shape, classes, lr, fmt, warmup, runs):
    model = model.to(memory_format=fmt).train()
    g = torch.Generator().manual_seed(11)
    x = torch.randn(shape, generator=g).contiguous(memory_format=fmt)
    y = torch.randint(0, classes, (shape[0],), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    s = median_seconds(step, warmup, runs)
    return {"ms": s * 1e3, "img_s": shape[0] / s}


def eval_step(model, shape, fmt, warmup, runs):
    model = model.to(memory_format=fmt).eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(13)).contiguous(memory_format=fmt)

    def step():
        with torch.no_grad():
            model(x)

    s = median_seconds(step, warmup, runs)
    return {"ms": s * 1e3, "img_s": shape[0] / s}


def feature_extraction(fmt, epochs=30):
    images, batch, classes = 512, 64, 5
    torch.manual_seed(0)
    backbone = SmallResNet(classes).to(memory_format=fmt).eval()
    for p in backbone.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(21)
    x = torch.randn(images, 1, 28, 28, generator=g).contiguous(memory_format=fmt)
    with torch.no_grad():
        labels = (backbone.features(x) @ torch.randn(64, classes, generator=g)).argmax(1)
    orders = [torch.randperm(images, generator=torch.Generator().manual_seed(100 + e)) for e in range(epochs)]

    # Timed: the training loop only (plus, for the cached path, computing the features once).
    # The accuracy of each trained head is measured afterwards, untimed, the same way for both.
    def train(features_of):
        torch.manual_seed(5)
        head = nn.Linear(64, classes)
        opt = torch.optim.Adam(head.parameters(), lr=3e-2)
        for order in orders:
            for start in range(0, images, batch):
                idx = order[start:start + batch]
                f = features_of(idx)
                opt.zero_grad()
                F.cross_entropy(head(f), labels[idx]).backward()
                opt.step()
        return head

    def accuracy(head):
        with torch.no_grad():
            return (head(backbone.features(x)).argmax(1) == labels).float().mean().item()

    def naive_features(idx):
        with torch.no_grad():
            return backbone.features(x[idx])

    t = time.perf_counter()
    naive_head = train(naive_features)
    naive_s = time.perf_counter() - t
    t = time.perf_counter()
    with torch.no_grad():
        feats = torch.cat([backbone.features(x[i:i + 256]) for i in range(0, images, 256)])
    cached_head = train(lambda idx: feats[idx])
    cached_s = time.perf_counter() - t
    naive_acc, cached_acc = accuracy(naive_head), accuracy(cached_head)
    steps = epochs * ((images + batch - 1) // batch)
    return {"ms": cached_s * 1e3 / steps, "img_s": epochs * images / cached_s, "naive_s": naive_s,
            "cached_s": cached_s, "speedup": naive_s / cached_s, "naive_accuracy": naive_acc,
            "cached_accuracy": cached_acc}


def peak_rss_child(fmt_name):
    """Runs the ResNet-50 train step in a fresh interpreter; returns its numbers."""
    out = subprocess.run([sys.executable, __file__, "--child-memory", fmt_name],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_child(fmt_name):
    model = torchvision.models.resnet50()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r = train_step(model, (8, 3, 224, 224), 1000, 0.01, FORMATS[fmt_name], 1, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r.update({"peak_mb": peak, "model_mb": before, "step_mb": peak - before})
    print(json.dumps(r))


def run(name, fmt, quick):
    warmup, runs = (1, 3) if quick else (2, 7)
    torch.manual_seed(0)
    if name == "small_train_b128":
        return train_step(SmallResNet(10), (128, 1, 28, 28), 10, 0.1, fmt, warmup + 1, runs * 2)
    if name == "small_eval_b512":
        return eval_step(SmallResNet(10), (512, 1, 28, 28), fmt, warmup, runs)
    if name == "r18_eval_b8":
        return eval_step(torchvision.models.resnet18(), (8, 3, 224, 224), fmt, warmup, runs)
    if name == "r50_eval_b8":
        return eval_step(torchvision.models.resnet50(), (8, 3, 224, 224), fmt, warmup, runs)
    if name == "r18_train_b8":
        return train_step(torchvision.models.resnet18(), (8, 3, 224, 224), 1000, 0.01, fmt, warmup, runs)
    if name == "feature_extraction":
        return feature_extraction(fmt)
    if name == "r50_train_b8_peak_rss":
        return peak_rss_child("nchw" if fmt == torch.contiguous_format else "channels_last")
    raise SystemExit(f"unknown workload {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="comma-separated workload names")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--child-memory")
    args = ap.parse_args()
    if args.child_memory:
        memory_child(args.child_memory)
        return
    names = [n for n in NAMES if not args.only or n in args.only.split(",")]
    workloads = {}
    print(f"PyTorch {torch.__version__}, torchvision {torchvision.__version__}, threads {torch.get_num_threads()}")
    print(f"{'workload':24} {'format':14} {'ms':>10} {'img/s':>10}")
    for name in names:
        workloads[name] = {}
        for fname, fmt in FORMATS.items():
            r = run(name, fmt, args.quick)
            workloads[name][fname] = r
            note = f"  speed-up {r['speedup']:.1f}x" if "speedup" in r else ""
            note += f"  peak RSS {r['peak_mb']:.0f} MB" if "peak_mb" in r else ""
            print(f"{name:24} {fname:14} {r['ms']:10.1f} {r['img_s']:10.1f}{note}", flush=True)
    if args.json:
        root = {"engine": "pytorch", "torch": torch.__version__, "torchvision": torchvision.__version__,
                "threads": torch.get_num_threads(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
                "machine": platform.machine(), "workloads": workloads}
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(root, f, indent=2, sort_keys=True)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
