"""Reading and writing safetensors files with torch alone.

The format is small enough to write by hand: an 8-byte little-endian header length, a JSON
header mapping each name to its dtype, shape and byte range, then the raw little-endian bytes.
Doing it here keeps the bridge free of dependencies beyond torch (the `safetensors` package
reads and writes the same files). Files are written atomically: a temporary file in the same
folder, then a rename, so an interrupted job never leaves half a checkpoint.
"""

import ctypes
import json
import os
import struct
import sys
import tempfile

import torch

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
_MAX_HEADER = 100_000_000


class SafetensorsError(ValueError):
    """A file that is not valid safetensors; the message names the file and what is wrong."""

    def __init__(self, path, message):
        super().__init__(f"{path}: {message}")


def load(path):
    """Returns `(tensors, metadata)`: a dict of name -> tensor (in file order) and the string
    metadata (`{}` when the file has none)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise SafetensorsError(path, f"{len(data)} bytes is too short for a safetensors header")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > _MAX_HEADER or 8 + header_size > len(data):
        raise SafetensorsError(path, f"header length {header_size} does not fit in the {len(data)}-byte file")
    try:
        header = json.loads(data[8:8 + header_size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(path, f"the header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(path, "the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + header_size:]
    tensors = {}
    for name, entry in header.items():
        try:
            dtype = _DTYPES[entry["dtype"]]
            shape = [int(n) for n in entry["shape"]]
            begin, end = (int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as e:
            raise SafetensorsError(path, f"tensor '{name}': bad or unsupported entry {entry!r} ({e})") from None
        count = 1
        for n in shape:
            count *= n
        expected = count * torch.empty((), dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(body) or end - begin != expected:
            raise SafetensorsError(path, f"tensor '{name}': bytes {begin}..{end} do not hold "
                                         f"{entry['dtype']} {shape} ({expected} bytes) in a {len(body)}-byte body")
        raw = bytearray(body[begin:end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        if sys.byteorder != "little" and flat.element_size() > 1:
            flat = flat.view(torch.uint8).view(-1, flat.element_size()).flip(1).contiguous().view(dtype).view(-1)
        tensors[name] = flat.reshape(shape).clone()
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def save(tensors, path, metadata=None):
    """Writes `tensors` (name -> tensor, any device) to `path` atomically, with optional string metadata."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, tensor in tensors.items():
        if tensor.dtype not in _NAMES:
            raise TypeError(f"{path}: tensor '{name}' has dtype {tensor.dtype}, which safetensors cannot hold")
        t = tensor.detach().to("cpu").contiguous()
        # Copies the tensor's bytes straight from its storage (no numpy needed).
        raw = ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""
        if sys.byteorder != "little" and t.element_size() > 1:
            raise OSError("writing safetensors on a big-endian machine is not supported")
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header so tensors start 8-byte aligned
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(encoded)))
            f.write(encoded)
            for raw in chunks:
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
