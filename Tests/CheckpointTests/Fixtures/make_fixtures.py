"""Generates the PyTorch-made checkpoint fixtures the Checkpoint tests read.

Run from anywhere:  /opt/torchenv/bin/python Tests/CheckpointTests/Fixtures/make_fixtures.py
Writes small files (a few KB) next to this script plus expected.json, which lists every tensor's
shape and values (as float32 after the engine's dtype conversion) so tests compare exactly.
"""
import collections
import json
import os
import pickle

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)


def out(name):
    return os.path.join(HERE, name)


def expected_entry(t):
    kind = {torch.bool: "bool", torch.int64: "int64", torch.int32: "int64", torch.int16: "int64",
            torch.int8: "int64", torch.uint8: "int64"}.get(t.dtype, "float32")
    if kind == "float32":
        values = t.detach().to(torch.float32).reshape(-1).tolist()
    else:
        values = t.detach().to(torch.int64).reshape(-1).tolist()
    return {"shape": list(t.shape), "dtype": kind, "values": values}


# 1. A plain state dict with the layouts torch.save produces.
base = torch.arange(12, dtype=torch.float32)
plain = collections.OrderedDict()
plain["fc.weight"] = torch.randn(3, 4)
plain["fc.bias"] = torch.randn(3)
plain["shared.full"] = base.view(3, 4)              # shares storage with the next two
plain["shared.row"] = base[4:8]                      # storage_offset 4
plain["shared.strided"] = base.view(3, 4)[:, 1::2]   # offset 1, strides (4, 2)
plain["transposed"] = torch.randn(3, 2).t()          # non-contiguous, strides (1, 2)
plain["bn.num_batches_tracked"] = torch.tensor(7)    # int64 scalar
plain["half"] = torch.tensor([1.5, -2.25, 65504.0, 6.0e-5, 0.0, -0.0], dtype=torch.float16)
plain["bf16"] = torch.tensor([1.0, -3.140625, 1.0e30, 2.0 ** -130], dtype=torch.bfloat16)
plain["double"] = torch.tensor([[0.1, -1e-3]], dtype=torch.float64)
plain["int32"] = torch.tensor([-5, 0, 2147483647], dtype=torch.int32)
plain["uint8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
plain["mask"] = torch.tensor([True, False, True])
plain["empty"] = torch.zeros(0, 3)
plain["param"] = torch.nn.Parameter(torch.randn(2, 2))  # pickled via _rebuild_parameter
torch.save(plain, out("plain.pth"))

# The same archive re-zipped with deflate compression (what a user's zip tool might do).
import zipfile
with zipfile.ZipFile(out("plain.pth")) as src, \
        zipfile.ZipFile(out("deflated.pth"), "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename.replace("plain/", "deflated/"), src.read(info.filename))

# 2. A training checkpoint: DataParallel "module." prefixes nested under "state_dict", plus
# an epoch, a float, a string and an optimizer state dict.
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model(torch.randn(5, 4)).sum().backward()
opt.step()
model_sd = model.state_dict()
torch.save({"epoch": 3, "best_acc": 0.75, "arch": "tiny",
            "state_dict": collections.OrderedDict(("module." + k, v) for k, v in model_sd.items()),
            "optimizer": opt.state_dict()}, out("nested.pth"))

# 3. safetensors with every dtype the reader converts (safetensors needs contiguous, unshared).
st = collections.OrderedDict()
st["f32"] = torch.randn(2, 3)
st["f16"] = plain["half"].clone()
st["bf16"] = plain["bf16"].clone()
st["f64"] = plain["double"].clone()
st["i64"] = torch.tensor([[-(2 ** 40), 1], [2, 3]])
st["i32"] = plain["int32"].clone()
st["i16"] = torch.tensor([-32768, 7], dtype=torch.int16)
st["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
st["u8"] = plain["uint8"].clone()
st["bool"] = plain["mask"].clone()
st["scalar"] = torch.tensor(2.5)
st["empty"] = torch.zeros(0, 3)
save_file(st, out("all_dtypes.safetensors"), metadata={"format": "pt", "note": "fixture"})

# 4. Files that must be refused.
torch.save(collections.OrderedDict(w=torch.ones(2)), out("legacy.pth"),
           _use_new_zipfile_serialization=False)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


torch.save({"weight": torch.ones(1), "payload": Evil()}, out("evil.pth"))

expected = {
    "plain.pth": {k: expected_entry(v) for k, v in plain.items()},
    "nested.pth": {k: expected_entry(v) for k, v in model_sd.items()},
    "all_dtypes.safetensors": {k: expected_entry(v) for k, v in st.items()},
}
with open(out("expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
print("fixtures written:", sorted(n for n in os.listdir(HERE) if not n.endswith(".py")))
