#!/usr/bin/env python3
"""Checks transformed ONNX models against the ONNX backend test suite's data.

Usage: node_suite.py, with one job a line on standard input, one answer a line on
standard output, in order.

A job is {"test", "dir", "original", "transform", "path", "batch"}: `transform` is "" for
the original itself (`path` is then the original), else the variant's label and `path`
its file. `dir` holds the suite's test_data_set_*/ (inputs and expected outputs as
protobuf); without it (the "light" zoo models) the inputs are seeded random and the
expected outputs are the original's under onnxruntime. `batch`, when set, says the variant
is the original at that batch size.

The answer is {"test", "transform", "path", "check", "run", "original_checks",
"original_runs"}: `check` is null when
`onnx.checker.check_model(full_check=True)` passes, else its message; `run` is null when
onnxruntime reproduces the expected outputs (the suite's tolerance: rtol 1e-3, atol 1e-7,
matched by position, since a renaming transform may rename inputs and outputs), else why
not. Variants are run only where the original runs. `original_checks` and
`original_runs` say whether the original passes the same two: the caller decides from
them what is a finding.
"""
import glob
import json
import os
import sys

import numpy as np
import onnx
from onnx import checker, numpy_helper

os.environ.setdefault("OMP_NUM_THREADS", "1")
import onnxruntime as ort  # noqa: E402

RTOL, ATOL = 1e-3, 1e-7


def short(e, limit=300):
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + "..."


def load_value(path, type_proto):
    """A test-data protobuf as the value onnxruntime takes, per the input's type."""
    data = open(path, "rb").read()
    kind = type_proto.WhichOneof("value") if type_proto is not None else "tensor_type"
    if kind == "sequence_type":
        p = onnx.SequenceProto()
        p.ParseFromString(data)
        return numpy_helper.to_list(p)
    if kind == "optional_type":
        p = onnx.OptionalProto()
        p.ParseFromString(data)
        return numpy_helper.to_optional(p)
    if kind == "map_type":
        p = onnx.MapProto()
        p.ParseFromString(data)
        return numpy_helper.to_dict(p)
    p = onnx.TensorProto()
    p.ParseFromString(data)
    return numpy_helper.to_array(p)


def runtime_inputs(model):
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def datasets(test_dir, model):
    """[(inputs, expected outputs)] of the suite's data sets."""
    sets = []
    inputs = runtime_inputs(model)
    for d in sorted(glob.glob(os.path.join(test_dir, "test_data_set_*"))):
        n_in = len(glob.glob(os.path.join(d, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(d, "output_*.pb")))
        xs = [
            load_value(os.path.join(d, f"input_{i}.pb"), inputs[i].type if i < len(inputs) else None)
            for i in range(n_in)
        ]
        outs = model.graph.output
        ys = [
            load_value(os.path.join(d, f"output_{i}.pb"), outs[i].type if i < len(outs) else None)
            for i in range(n_out)
        ]
        sets.append((xs, ys))
    return sets


def random_inputs(model, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for i in runtime_inputs(model):
        t = i.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        xs.append(rng.standard_normal(shape).astype(dtype))
    return xs


STANDARD = {"", "ai.onnx", "ai.onnx.ml"}


def run_qonnx(path, xs):
    """A model with QONNX ops (what LowerConvsToMatMul writes), run by qonnx's executor,
    which runs each standard node with onnxruntime and each QONNX op with its own kernel."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    model = ModelWrapper(path).transform(InferShapes(), cleanup=False)
    inputs = runtime_inputs(model.model)
    if len(inputs) != len(xs):
        raise RuntimeError(f"{len(inputs)} runtime inputs, {len(xs)} given")
    out = execute_onnx(model, {i.name: x for i, x in zip(inputs, xs)})
    return [np.asarray(out[o.name]) for o in model.graph.output]


def run(path, xs):
    if any(n.domain not in STANDARD for n in onnx.load(path).graph.node):
        return run_qonnx(path, xs)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    declared = sess.get_inputs()
    if len(declared) != len(xs):
        raise RuntimeError(f"{len(declared)} runtime inputs, {len(xs)} given")
    # A model that computes in FLOAT what the suite's data gives in DOUBLE (what
    # DoubleToSingleFloat makes) takes the data rounded to float.
    xs = [
        x.astype(np.float32) if isinstance(x, np.ndarray) and x.dtype == np.float64 and d.type == "tensor(float)" else x
        for x, d in zip(xs, declared)
    ]
    return sess.run(None, {d.name: x for d, x in zip(declared, xs)})


def compare(expected, got, where="output"):
    if len(expected) != len(got):
        return f"{len(got)} outputs, {len(expected)} expected"
    for i, (e, g) in enumerate(zip(expected, got)):
        if isinstance(e, list):
            if not isinstance(g, list):
                return f"{where} {i}: a sequence expected"
            why = compare(e, g, f"{where} {i} element")
            if why:
                return why
            continue
        if e is None or g is None:
            if (e is None) != (g is None):
                return f"{where} {i}: optional presence differs"
            continue
        if isinstance(e, dict):
            if e.keys() != g.keys():
                return f"{where} {i}: map keys differ"
            continue
        e = np.asarray(e)
        g = np.asarray(g)
        if e.shape != g.shape:
            return f"{where} {i}: shape {g.shape}, expected {e.shape}"
        if e.dtype.kind in "OUS":
            if not np.array_equal(e, g):
                return f"{where} {i}: strings differ"
            continue
        if e.dtype.kind == "b" or e.dtype.kind in "iu":
            if not np.array_equal(e, g.astype(e.dtype)):
                return f"{where} {i}: values differ"
            continue
        try:
            np.testing.assert_allclose(e.astype(np.float64), g.astype(np.float64), rtol=RTOL, atol=ATOL)
        except AssertionError as err:
            lines = [l for l in str(err).splitlines() if "Mismatched" in l or "Max absolute" in l]
            return f"{where} {i}: " + "; ".join(l.strip() for l in lines)
        except (TypeError, ValueError) as err:
            return f"{where} {i}: {short(err)}"
    return None


def check(path):
    try:
        checker.check_model(path, full_check=True)
        return None
    except Exception as e:  # noqa: BLE001 - every checker failure is a finding
        return short(e)


def outcome(path, sets):
    try:
        for xs, ys in sets:
            why = compare(ys, run(path, xs))
            if why:
                return why
        return None
    except Exception as e:  # noqa: BLE001 - onnxruntime's failures are findings
        return short(e)


def batched(original, path, batch):
    """Whether `path`, the original at batch `batch`, gives per sample what the original
    gives each sample alone."""
    try:
        xs = random_inputs(onnx.load(path), seed=1)
        if any(x.shape[:1] != (batch,) for x in xs):
            return f"its inputs' first dimensions are {[x.shape[:1] for x in xs]}, not {batch}"
        singles = [run(original, [x[i:i + 1] for x in xs]) for i in range(batch)]
        expected = [np.concatenate([s[k] for s in singles]) for k in range(len(singles[0]))]
        return compare(expected, run(path, xs))
    except Exception as e:  # noqa: BLE001
        return short(e)


def original_state(job):
    """(data sets, why the original does not run or None, why it fails the checker or None)."""
    try:
        original = onnx.load(job["original"])
        if job.get("dir"):
            sets = datasets(job["dir"], original)
        else:
            xs = random_inputs(original)
            sets = [(xs, run(job["original"], xs))]
        orig_run = outcome(job["original"], sets)
    except Exception as e:  # noqa: BLE001
        sets, orig_run = [], "the test data cannot be read: " + short(e)
    return sets, orig_run, check(job["original"])


def main():
    # Answers go to the real standard output alone: whatever a library prints, from Python
    # or from C, goes to standard error.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # The last test's state: the caller sends a test's jobs one after another.
    cached_test, state = None, None
    for line in sys.stdin:
        job = json.loads(line)
        if job["test"] != cached_test:
            cached_test, state = job["test"], original_state(job)
        sets, orig_run, orig_check = state
        row = {
            "test": job["test"],
            "transform": job["transform"],
            "path": job["path"],
            "original_checks": orig_check is None,
            "original_runs": orig_run is None,
        }
        if not job["transform"]:
            row.update(check=orig_check, run=orig_run)
        else:
            if orig_run is not None:
                run_why = "not run: the original does not run"
            elif job.get("batch"):
                run_why = batched(job["original"], job["path"], job["batch"])
            else:
                run_why = outcome(job["path"], sets)
            row.update(check=check(job["path"]), run=run_why)
        answers.write(json.dumps(row) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
