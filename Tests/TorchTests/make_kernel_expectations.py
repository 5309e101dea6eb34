"""Prints the PyTorch reference values pasted into LossesTests.swift and BatchNormTests.swift.

Run with a Python that has torch:  /opt/torchenv/bin/python Tests/TorchTests/make_kernel_expectations.py
Inputs are closed-form (sin/cos of indices) so the Swift tests rebuild them exactly.
"""
import math
import torch
import torch.nn.functional as F


def logits(shape, a=1.3, b=0.7):
    n = 1
    for d in shape:
        n *= d
    return torch.tensor([2.0 * math.sin(i * a + b) for i in range(n)], dtype=torch.float32).reshape(shape)


def fmt(t):
    vals = t.detach().reshape(-1).tolist()
    return "[" + ", ".join(f"{v:.7g}" for v in vals) + "]"


x = logits([4, 5])
t = torch.tensor([1, 0, 4, 2])
w = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.8])
ti = torch.tensor([1, -100, 4, 2])
cases = {
    "ceMean": F.cross_entropy(x, t),
    "ceSum": F.cross_entropy(x, t, reduction="sum"),
    "ceNone": F.cross_entropy(x, t, reduction="none"),
    "ceWeightMean": F.cross_entropy(x, t, weight=w),
    "ceIgnoreMean": F.cross_entropy(x, ti),
    "ceIgnore2WeightMean": F.cross_entropy(x, t, weight=w, ignore_index=2),
    "ceSmoothMean": F.cross_entropy(x, t, label_smoothing=0.1),
    "ceSmoothWeightIgnoreMean": F.cross_entropy(x, ti, weight=w, label_smoothing=0.2),
    "ceSmoothWeightIgnoreSum": F.cross_entropy(x, ti, weight=w, label_smoothing=0.2, reduction="sum"),
    "ceSmoothWeightIgnoreNone": F.cross_entropy(x, ti, weight=w, label_smoothing=0.2, reduction="none"),
    "nllWeightMean": F.nll_loss(F.log_softmax(x, 1), t, weight=w),
    "nllIgnoreNone": F.nll_loss(F.log_softmax(x, 1), ti, reduction="none"),
    "nllIgnoreWeightSum": F.nll_loss(F.log_softmax(x, 1), ti, weight=w, reduction="sum"),
}
for k, v in cases.items():
    print(f"{k}: {fmt(v)}")

# Gradient of the weighted, smoothed, ignoring mean cross-entropy.
xg = x.clone().requires_grad_()
F.cross_entropy(xg, ti, weight=w, label_smoothing=0.2).backward()
print(f"ceSmoothWeightIgnoreMeanGrad: {fmt(xg.grad)}")

# Spatial cross-entropy: input [2, 3, 2, 2], target [2, 2, 2].
xs = logits([2, 3, 2, 2], 0.9, 0.3)
ts = torch.tensor([0, 2, 1, 1, 2, 0, -100, 1]).reshape(2, 2, 2)
ws = torch.tensor([1.0, 0.5, 2.0])
print(f"ceSpatialMean: {fmt(F.cross_entropy(xs, ts, weight=ws, label_smoothing=0.1))}")
print(f"ceSpatialNone: {fmt(F.cross_entropy(xs, ts, reduction='none'))}")

# MSE.
a = logits([3, 4])
b = logits([3, 4], 0.4, 1.1)
print(f"mseMean: {fmt(F.mse_loss(a, b))}")
print(f"mseSum: {fmt(F.mse_loss(a, b, reduction='sum'))}")

# Batch norm: running stats after one training step, and eval output with them.
xb = logits([3, 2, 2, 2], 0.8, 0.2) + 0.5
rm = torch.tensor([0.1, -0.2])
rv = torch.tensor([1.0, 2.0])
wb = torch.tensor([1.5, 0.5])
bb = torch.tensor([0.1, -0.3])
yb = F.batch_norm(xb, rm, rv, wb, bb, training=True, momentum=0.1, eps=1e-5)
print(f"bnTrainOutput: {fmt(yb)}")
print(f"bnRunningMean: {fmt(rm)}")
print(f"bnRunningVar: {fmt(rv)}")
print(f"bnEvalOutput: {fmt(F.batch_norm(xb, rm, rv, wb, bb, training=False, eps=1e-5))}")

# Pooling on a [1, 2, 5, 5] input.
xp = logits([1, 2, 5, 5], 1.7, 0.4)
print(f"maxPoolPadCeil: {fmt(F.max_pool2d(xp, 3, 2, 1, ceil_mode=True))}")
print(f"maxPoolDilated: {fmt(F.max_pool2d(xp, 2, 1, 1, dilation=2))}")
print(f"avgPoolPadCeilNoCount: {fmt(F.avg_pool2d(xp, 3, 2, 1, ceil_mode=True, count_include_pad=False))}")
print(f"avgPoolPadCeilCount: {fmt(F.avg_pool2d(xp, 3, 2, 1, ceil_mode=True, count_include_pad=True))}")
print(f"avgPoolCeil: {fmt(F.avg_pool2d(xp, 2, 2, ceil_mode=True))}")
print(f"adaptive3x2: {fmt(F.adaptive_avg_pool2d(xp, (3, 2)))}")
