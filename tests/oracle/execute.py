#!/usr/bin/env python3
"""Runs one ONNX model with qonnx's executor on inputs read from .npy files and writes its
outputs as .npy files: the reference our executor (brainsmith_plugins::exec) is compared
with, bit for bit.

Usage: execute.py MODEL.onnx IN_0.npy [IN_1.npy ...] -- OUT_0.npy [OUT_1.npy ...]

Inputs are matched by position to the graph inputs that are not initializers; outputs by
position to the graph outputs.
"""
import sys

import numpy as np


def main():
    args = sys.argv[1:]
    split = args.index("--")
    model_path, in_paths, out_paths = args[0], args[1:split], args[split + 1:]
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    model = ModelWrapper(model_path)
    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    feed = {n: np.load(p) for n, p in zip(names, in_paths)}
    out = execute_onnx(model, feed)
    for o, p in zip(model.graph.output, out_paths):
        np.save(p, np.asarray(out[o.name]))


if __name__ == "__main__":
    main()
