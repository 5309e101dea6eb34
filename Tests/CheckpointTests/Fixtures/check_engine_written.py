"""Checks that checkpoints written by the Swift engine load in PyTorch.

    mkdir -p /tmp/engine_ckpt
    CHECKPOINT_EXPORT_DIR=/tmp/engine_ckpt swift test --filter PyTorchCheckpointTests/testFilesForThePyTorchCheck
    /opt/torchenv/bin/python Tests/CheckpointTests/Fixtures/check_engine_written.py /tmp/engine_ckpt

Loads engine_model.pth with torch.load(weights_only=True) into the model it was shaped after
(nn.Sequential(Linear(4, 3), BatchNorm1d(3))) with load_state_dict(strict=True), checks every
value, does the same for the safetensors twin, and loads engine_dtypes.pth (all engine dtypes,
a scalar, an empty tensor). Exits non-zero on any mismatch.
"""
import collections
import math
import os
import sys

import torch
from safetensors.torch import load_file

directory = sys.argv[1] if len(sys.argv) > 1 else "/tmp/engine_ckpt"

expected = collections.OrderedDict([
    ("0.weight", torch.tensor([i * 0.5 - 2 for i in range(12)]).reshape(3, 4)),
    ("0.bias", torch.tensor([0.1, -0.2, 0.3])),
    ("1.weight", torch.ones(3)),
    ("1.bias", torch.zeros(3)),
    ("1.running_mean", torch.tensor([0.5, -0.5, 2.0])),
    ("1.running_var", torch.tensor([1.0, 2.0, 3.0])),
    ("1.num_batches_tracked", torch.tensor(1 << 40)),
])


def check_model_dict(sd, what):
    assert isinstance(sd, dict), f"{what}: got {type(sd)}"
    assert list(sd.keys()) == list(expected.keys()) or what.endswith("safetensors"), f"{what}: key order {list(sd)}"
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    model.load_state_dict(sd, strict=True)
    for name, value in model.state_dict().items():
        assert value.dtype == expected[name].dtype, f"{what}: {name} dtype {value.dtype}"
        assert torch.equal(value, expected[name]), f"{what}: {name} = {value}"
    model.eval()
    out = model(torch.ones(2, 4))
    assert out.shape == (2, 3)
    print(f"ok: {what} loads into nn.Sequential(Linear, BatchNorm1d) with strict=True")


sd = torch.load(os.path.join(directory, "engine_model.pth"), weights_only=True)
assert type(sd) is collections.OrderedDict, type(sd)
check_model_dict(sd, "engine_model.pth")
check_model_dict(load_file(os.path.join(directory, "engine_model.safetensors")), "engine_model.safetensors")

d = torch.load(os.path.join(directory, "engine_dtypes.pth"), weights_only=True)
assert d["conv.weight"].shape == (2, 1, 2, 2) and d["conv.weight"].dtype == torch.float32
w = d["conv.weight"].reshape(-1).tolist()
assert w[:4] == [1.0, -2.0, 3.5, 0.0] and math.copysign(1, w[4]) < 0 and w[5] == math.inf, w
assert d["bn.num_batches_tracked"].dtype == torch.int64 and d["bn.num_batches_tracked"].item() == 42
assert d["big.ints"].tolist() == [-(2 ** 63), -1, 2 ** 63 - 1]
assert d["mask"].dtype == torch.bool and d["mask"].tolist() == [True, False, True, True]
assert d["scalar"].shape == () and d["scalar"].item() == 3.25
assert d["empty"].shape == (0, 4)
print("ok: engine_dtypes.pth (float32, int64, bool, scalar, empty) loads with weights_only=True")

from safetensors import safe_open
with safe_open(os.path.join(directory, "engine_dtypes.safetensors"), framework="pt") as f:
    assert f.metadata() == {'k"': "v\n"}, f.metadata()
    odd = 'we"ird\\name\n\x01\u00e9'
    assert odd in f.keys(), list(f.keys())
    assert math.isnan(f.get_tensor(odd).item())
    assert f.get_tensor("mask").dtype == torch.bool and f.get_tensor("big.ints").tolist() == [-(2 ** 63), -1, 2 ** 63 - 1]
print("ok: engine_dtypes.safetensors (escaped names, metadata, bool, int64) loads with safetensors")

# mmap=True needs the storages aligned the way torch.save aligns them.
m = torch.load(os.path.join(directory, "engine_model.pth"), weights_only=True, mmap=True)
check_model_dict(m, "engine_model.pth (mmap=True)")

import zipfile
for name in ("engine_model.pth", "engine_dtypes.pth"):
    with zipfile.ZipFile(os.path.join(directory, name)) as z:
        assert z.testzip() is None, f"{name}: bad CRC in {z.testzip()}"
print("ok: zip CRCs verified by Python's zipfile")
