#!/usr/bin/env python3
"""An independent safetensors writer and reader (Python + numpy, no safetensors package), for Tailor's
cross-tool tests.

The format, as huggingface/safetensors specifies it: 8-byte little-endian header length N; N bytes of UTF-8 JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}; then the data buffer, with
offsets relative to its start. The writer lays files out as the reference writer does (safetensors/src/tensor.rs,
`prepare`): tensors sorted by descending dtype alignment rank (the order of its `Dtype` enum), then by name;
compact JSON with "__metadata__" first; header padded with spaces to a multiple of 8.

usage (with Debian's python3-numpy: /usr/bin/python3):
  make_safetensors_fixtures.py write OUTDIR   write the fixture files and expected.json into OUTDIR
  make_safetensors_fixtures.py read FILE      print FILE as JSON: header length, metadata, layout, tensors + values

The fixture values come from fixed formulas below; expected.json records the values each file stores, decoded by
this script, so the C# tests compare against what another tool wrote and read, not against themselves.
"""

import json
import math
import os
import struct
import sys

import numpy as np

# name -> (numpy dtype used to hold the raw elements, alignment rank in the reference Dtype enum)
DTYPES = {
    "BOOL": (np.dtype("u1"), 0),
    "U8": (np.dtype("u1"), 4),
    "I8": (np.dtype("i1"), 5),
    "I16": (np.dtype("<i2"), 11),
    "F16": (np.dtype("<f2"), 13),
    "BF16": (np.dtype("<u2"), 14),  # raw bfloat16 bits
    "I32": (np.dtype("<i4"), 15),
    "F32": (np.dtype("<f4"), 17),
    "F64": (np.dtype("<f8"), 19),
    "I64": (np.dtype("<i8"), 20),
}

PT_METADATA = {"format": "pt"}


# ---------------------------------------------------------------- bfloat16 by bit manipulation

def f32_to_bf16_bits(values):
    """float32 -> bfloat16 bits, rounding to nearest even; NaN becomes the quiet NaN 0x7FC0."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(values, dtype=np.float32))
    rounded[nan] = 0x7FC0
    return rounded


def bf16_bits_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


# ---------------------------------------------------------------- writer

def tensor(dtype, shape, values):
    """A tensor to write: its dtype name, shape and raw elements (bf16 given as float values, converted here)."""
    holder, _ = DTYPES[dtype]
    if dtype == "BF16":
        raw = f32_to_bf16_bits(np.asarray(values, dtype=np.float32))
    else:
        raw = np.asarray(values).astype(holder)
    raw = raw.reshape(shape)
    return (dtype, list(shape), raw)


def serialize(tensors, metadata):
    order = sorted(tensors, key=lambda n: (-DTYPES[tensors[n][0]][1], n.encode("utf-8")))
    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(sorted(metadata.items()))
    offset = 0
    chunks = []
    for name in order:
        dtype, shape, raw = tensors[name]
        data = np.ascontiguousarray(raw).tobytes()
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write(path, tensors, metadata=PT_METADATA):
    with open(path, "wb") as f:
        f.write(serialize(tensors, metadata))


# ---------------------------------------------------------------- reader

def read(path):
    """Parses and validates a file; returns (header length, metadata, names in offset order, {name: (dtype, shape, array)})."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError(f"{path}: header length {n} beyond file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", None)
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    position = 0
    tensors = {}
    for name, info in entries:
        holder, _ = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = math.prod(info["shape"])
        if begin != position or end - begin != count * holder.itemsize:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {info['data_offsets']}")
        position = end
        raw = np.frombuffer(data[begin:end], dtype=holder).reshape(info["shape"])
        tensors[name] = (info["dtype"], info["shape"], raw)
    if position != len(data):
        raise ValueError(f"{path}: {len(data) - position} stray bytes after the last tensor")
    return n, metadata, [name for name, _ in entries], tensors


def decoded_values(dtype, raw):
    """Element values as JSON-ready Python numbers: floats exactly, non-finite as strings, ints, bools."""
    flat = raw.reshape(-1)
    if dtype == "BF16":
        flat = bf16_bits_to_f32(flat)
    if dtype in ("F16", "BF16", "F32", "F64"):
        out = []
        for x in flat.astype(np.float64):
            if math.isnan(x):
                out.append("nan")
            elif math.isinf(x):
                out.append("inf" if x > 0 else "-inf")
            else:
                out.append(float(x))
        return out
    if dtype == "BOOL":
        return [bool(x) for x in flat]
    return [int(x) for x in flat]


def describe(path):
    n, metadata, layout, tensors = read(path)
    return {
        "header_length": n,
        "metadata": metadata,
        "layout": layout,
        "tensors": {
            name: {"dtype": dtype, "shape": shape, "values": decoded_values(dtype, raw)}
            for name, (dtype, shape, raw) in tensors.items()
        },
    }


# ---------------------------------------------------------------- fixtures

def wave(count, phase, scale):
    """Deterministic, non-trivial values: scaled sines in float64."""
    return [scale * math.sin(0.37 * i + phase) for i in range(count)]


SPECIAL_F32 = [0.0, -0.0, 1e-45, 3.4028234663852886e38, -math.inf, math.inf, math.nan, 1.0 / 3.0]
SPECIAL_F16 = [0.0, -0.0, 6e-08, 65504.0, -math.inf, math.inf, math.nan, 1.0 / 3.0]


def fixtures():
    f32 = {
        "model.layers.0.self_attn.q_proj.weight": tensor("F32", [4, 3], wave(12, 0.1, 0.02)),
        "model.norm.weight": tensor("F32", [3], [1.0, 0.5, -2.25]),
        "special": tensor("F32", [8], SPECIAL_F32),
        "scalar": tensor("F32", [], math.pi),
        "empty": tensor("F32", [0, 4], []),
    }
    f16 = {
        "weights": tensor("F16", [2, 5], wave(10, 0.3, 1.5)),
        "special": tensor("F16", [8], SPECIAL_F16),
    }
    bf16 = {
        "weights": tensor("BF16", [3, 4], wave(12, 0.7, 3.0)),
        "special": tensor("BF16", [8], SPECIAL_F32),
    }
    mixed = {
        "flags": tensor("BOOL", [5], [True, False, True, True, False]),
        "bytes": tensor("U8", [4], [0, 1, 127, 255]),
        "small": tensor("I8", [4], [-128, -1, 0, 127]),
        "shorts": tensor("I16", [3], [-32768, 12345, 32767]),
        "ints": tensor("I32", [3], [-2147483648, 7, 2147483647]),
        "position_ids": tensor("I64", [2, 3], [0, 1, 2, -(2 ** 62), 2 ** 62 + 12345, -1]),
        "z_doubles": tensor("F64", [3], [1.0 / 3.0, -1e300, 5e-324]),
        "a_doubles": tensor("F64", [1], [2.5]),
        "floats": tensor("F32", [2], [0.1, -7.75]),
        "halves": tensor("F16", [2], [0.1, -7.75]),
        "brains": tensor("BF16", [2], [0.1, -7.75]),
    }
    shard1 = {
        "model.embed_tokens.weight": tensor("F32", [8, 4], wave(32, 0.2, 0.5)),
        "model.proj.bias": tensor("F16", [4], [0.125, -0.25, 0.5, -1.0]),
    }
    shard2 = {
        "model.proj.weight": tensor("BF16", [4, 4], wave(16, 1.1, 0.75)),
        "lm_head.weight": tensor("F32", [8, 4], wave(32, 2.9, 0.25)),
    }
    return f32, f16, bf16, mixed, shard1, shard2


def converted(tensors, dtype):
    """The f32 tensors stored as another float dtype, rounding as numpy (F16) and f32_to_bf16_bits (BF16) round."""
    out = {}
    for name, (_, shape, raw) in tensors.items():
        values = np.asarray(raw, dtype=np.float32).reshape(-1)
        if dtype == "BF16":
            out[name] = (dtype, shape, f32_to_bf16_bits(values).reshape(shape))
        else:
            with np.errstate(over="ignore"):  # float32 max overflows to inf in F16, as it should
                out[name] = (dtype, shape, values.astype(np.float16).reshape(shape))
    return out


def write_fixtures(outdir):
    f32, f16, bf16, mixed, shard1, shard2 = fixtures()
    os.makedirs(os.path.join(outdir, "sharded"), exist_ok=True)
    files = {
        "f32.safetensors": (f32, PT_METADATA),
        "f16.safetensors": (f16, PT_METADATA),
        "bf16.safetensors": (bf16, PT_METADATA),
        "mixed.safetensors": (mixed, None),
        "f32_as_bf16.safetensors": (converted(f32, "BF16"), PT_METADATA),
        "f32_as_f16.safetensors": (converted(f32, "F16"), PT_METADATA),
        "sharded/model-00001-of-00002.safetensors": (shard1, PT_METADATA),
        "sharded/model-00002-of-00002.safetensors": (shard2, PT_METADATA),
    }
    for name, (tensors, metadata) in files.items():
        write(os.path.join(outdir, name), tensors, metadata)

    weight_map = {}
    total = 0
    for shard, tensors in (("model-00001-of-00002.safetensors", shard1), ("model-00002-of-00002.safetensors", shard2)):
        for name, (_, _, raw) in tensors.items():
            weight_map[name] = shard
            total += raw.nbytes
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(outdir, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")

    expected = {name: describe(os.path.join(outdir, name)) for name in files}
    with open(os.path.join(outdir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def main(argv):
    if len(argv) == 3 and argv[1] == "write":
        write_fixtures(argv[2])
    elif len(argv) == 3 and argv[1] == "read":
        json.dump(describe(argv[2]), sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
