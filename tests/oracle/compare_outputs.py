#!/usr/bin/env python3
"""Runs two ONNX models on the same seeded random input and prints, as JSON, the largest
absolute difference of each pair of outputs (matched by position).

Usage: compare_outputs.py ORACLE_SCRIPT_DIR A.onnx B.onnx [--seed N]

Inputs and execution come from the oracle's own helpers (run_qonnx.random_inputs and
run_exec: qonnx's executor for custom ops, onnxruntime otherwise), so both models are
run exactly as the oracle runs models. B's inputs are matched to A's by position, since a
renaming transform may have renamed them.
"""
import json
import sys

import numpy as np


def main():
    oracle_dir, a_path, b_path = sys.argv[1:4]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    sys.path.insert(0, oracle_dir)
    from run_qonnx import random_inputs, run_exec
    from qonnx.core.modelwrapper import ModelWrapper

    a = ModelWrapper(a_path)
    b = ModelWrapper(b_path)
    feed = random_inputs(a, seed)
    inits = {i.name for i in b.graph.initializer}
    b_inputs = [i.name for i in b.graph.input if i.name not in inits]
    feed_b = {nb: feed[na] for na, nb in zip(feed.keys(), b_inputs)}
    out_a, exec_a = run_exec(a, feed)
    out_b, exec_b = run_exec(b, feed_b)
    diffs = []
    for (ka, va), (kb, vb) in zip(out_a.items(), out_b.items()):
        if va.shape != vb.shape:
            diffs.append({"a": ka, "b": kb, "error": f"shapes {va.shape} and {vb.shape}"})
            continue
        d = float(np.max(np.abs(va.astype(np.float64) - vb.astype(np.float64)))) if va.size else 0.0
        scale = float(np.max(np.abs(va.astype(np.float64)))) if va.size else 0.0
        diffs.append({"a": ka, "b": kb, "max_abs_diff": d, "max_abs": scale})
    print(json.dumps({"executors": [exec_a, exec_b], "outputs": diffs}))


if __name__ == "__main__":
    main()
