#!/usr/bin/env python3
"""onnx's own shape inference on the ONNX backend test suite's models.

Usage: shape_suite.py MODELS.json RESULTS.jsonl

MODELS.json is a list of model paths. For each, the declared types of the graph outputs
and every `value_info` entry are removed (so that only inference types them, as in the
Rust side of `tests/tests/shape_coverage.rs`), `onnx.shape_inference.infer_shapes` runs
with `strict_mode=False`, and one JSON line is written:
{"model", "error", "types": {tensor: [elem_type, dims or null]}} for every tensor a node
of the main graph produces that inference typed as a tensor; a dimension is its value, or
null when symbolic or unknown. `error` is null unless inference itself failed.
"""
import json
import sys

import onnx
from onnx import shape_inference


def tensor_types(model):
    produced = {o for n in model.graph.node for o in n.output if o}
    types = {}
    for vi in list(model.graph.value_info) + list(model.graph.output):
        if vi.name not in produced or vi.type.WhichOneof("value") != "tensor_type":
            continue
        t = vi.type.tensor_type
        if t.elem_type == 0:
            continue
        dims = None
        if t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        types[vi.name] = [t.elem_type, dims]
    return types


def main():
    models_path, results_path = sys.argv[1:3]
    with open(results_path, "w") as out:
        for path in json.load(open(models_path)):
            row = {"model": path, "error": None, "types": {}}
            try:
                model = onnx.load(path)
                for o in model.graph.output:
                    o.ClearField("type")
                del model.graph.value_info[:]
                inferred = shape_inference.infer_shapes(model, strict_mode=False)
                row["types"] = tensor_types(inferred)
            except Exception as e:  # noqa: BLE001 - recorded; the test decides
                row["error"] = " ".join(str(e).split())[:300]
            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
