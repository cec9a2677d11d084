#!/usr/bin/env python3
"""Export Brevitas' bnn_pynq example networks to QONNX with random weights.

What it does
------------
For each ``--model NAME --seed N --out PATH`` group given on the command line it

1. calls ``torch.manual_seed(N)``;
2. builds ``brevitas_examples.bnn_pynq.models.<NAME>(pretrained=False)`` (the
   trained checkpoints live on GitHub release pages, which this project's machines
   cannot reach, so the weights are the model's own random initialisation);
3. calls ``torch.manual_seed(N)`` again, then randomises the statistics of every
   ``torch.nn.BatchNorm1d/2d`` in module order, drawing, per BatchNorm, in this
   order:
     running_mean ~ N(0, 0.5)      (0.5 is the standard deviation)
     running_var  ~ U(0.5, 1.5)
     weight       ~ U(0.5, 1.5)
     bias         ~ N(0, 0.2)
   so that the BatchNormalization nodes are not identities. The final
   ``TensorNorm`` of each network is not a BatchNorm and keeps its defaults;
4. puts the model in eval mode and exports it with
   ``brevitas.export.export_qonnx`` (torch dynamo exporter, ONNX opset 20) on a
   zero input of the network's shape: 1x1x28x28 for the MNIST MLPs
   (tfc_*, sfc_*, lfc_*), 1x3x32x32 for the CIFAR-10 CNNs (cnv_*).

The resulting files contain QONNX ``Quant``/``BipolarQuant`` nodes in the
``qonnx.custom_op.general`` domain. Same package versions + same seed give the
same file, byte for byte, except that the dynamo exporter records each node's
Python stack trace (node metadata ``pkg.torch.onnx.stack_trace``), which holds
the venv's path. With ``--model tfc_1w1a --seed 1`` and ``--model cnv_1w1a
--seed 2`` it reproduces the project's brevitas_tfc_1w1a_seed1.onnx and
brevitas_cnv_1w1a_seed2.onnx exactly once ``/tmp/brevitas-venv/`` in those
stack traces is read as ``/tmp/bvenv/`` (the venv they were made in). The script prints the
op-type histogram of every file it writes and, with ``--check``, runs it once in
qonnx's executor on a random input and compares with the torch model.
onnxruntime is tried only for graphs without custom-domain nodes; it has no
kernels for QONNX's Quant/BipolarQuant, so for these networks it is skipped.

Setting up the environment (outside the repository; torch is never a
dependency of the Rust project or of its CI)
--------------------------------------------------------------------------
Only PyPI is reachable from this project's machines, so torch comes from PyPI
(the default Linux wheel, which also pulls the nvidia-* CUDA wheels; only the
CPU is used)::

    python3 -m venv /tmp/brevitas-venv
    /tmp/brevitas-venv/bin/pip install --upgrade pip wheel
    /tmp/brevitas-venv/bin/pip install torch==2.15.0 brevitas==0.13.4 \
        onnx==1.23.2 onnxscript==0.7.2 onnxoptimizer==0.4.2 \
        onnxruntime==1.32.0 qonnx==1.0.0

(brevitas' ONNX manager refuses to run without ``onnxoptimizer``; the dynamo
exporter needs ``onnxscript``; ``qonnx`` and ``onnxruntime`` are used only by
``--check``.) The whole set-up took about 80 s here.

Running it (from the repository root)
-------------------------------------
::

    /tmp/brevitas-venv/bin/python scripts/export_bnn_pynq.py --check \\
        --model tfc_2w2a --seed 3 --out testdata/models/brevitas_tfc_2w2a_seed3.onnx \\
        --model tfc_1w2a --seed 4 --out testdata/models/brevitas_tfc_1w2a_seed4.onnx

``--model``, ``--seed`` and ``--out`` may be repeated; the i-th of each form one
export. ``--out`` may be omitted, giving ``brevitas_<model>_seed<N>.onnx`` in the
current directory. Valid model names are those of
``brevitas_examples.bnn_pynq.models.__all__`` whose architecture is FC or CNV:
cnv_1w1a cnv_1w2a cnv_2w2a sfc_1w1a sfc_1w2a sfc_2w2a tfc_1w1a tfc_1w2a
tfc_2w2a lfc_1w1a lfc_1w2a.
"""

import argparse
import collections
import os
import sys
import time
import warnings

OPSET = 20

# Input shape by model family (NCHW). The FC models flatten their input.
INPUT_SHAPES = {
    "tfc": (1, 1, 28, 28),
    "sfc": (1, 1, 28, 28),
    "lfc": (1, 1, 28, 28),
    "cnv": (1, 3, 32, 32),
}


def input_shape_for(model_name):
    family = model_name.split("_", 1)[0].lower()
    if family not in INPUT_SHAPES:
        raise SystemExit(
            f"unsupported model {model_name!r}: expected one of the families "
            f"{sorted(INPUT_SHAPES)} (e.g. tfc_2w2a, cnv_1w1a)")
    return INPUT_SHAPES[family]


def randomise_batchnorms(model):
    """Give every BatchNorm non-trivial statistics; returns how many were changed."""
    import torch

    count = 0
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
                count += 1
    return count


def build_model(model_name, seed):
    import torch
    from brevitas_examples.bnn_pynq import models as bnn_models

    if model_name not in bnn_models.__all__ or not hasattr(bnn_models, model_name):
        raise SystemExit(f"unknown bnn_pynq model {model_name!r}")
    input_shape_for(model_name)  # rejects resnet18_4w4a and other families

    torch.manual_seed(seed)
    model = getattr(bnn_models, model_name)(pretrained=False)
    # Re-seed so the BatchNorm draws start from the seed's fresh stream, not from
    # wherever weight initialisation left it (this is what the project's first
    # exports, brevitas_{tfc_1w1a_seed1,cnv_1w1a_seed2}.onnx, do).
    torch.manual_seed(seed)
    n_bn = randomise_batchnorms(model)
    model.eval()
    return model, n_bn


def export(model_name, seed, out_path):
    import torch
    from brevitas.export import export_qonnx

    model, n_bn = build_model(model_name, seed)
    shape = input_shape_for(model_name)
    example = torch.zeros(shape, dtype=torch.float32)
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    started = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(
            model, args=example, export_path=out_path, dynamo=True, opset_version=OPSET)
    remove_stale_external_data(out_path, started)
    return model, n_bn, shape


def remove_stale_external_data(out_path, started):
    """Delete the ``<out>.data`` file torch's exporter leaves behind.

    torch.onnx.export writes the weights to ``<out>.data``; brevitas then loads
    the model, applies its passes and saves it again with the weights inline, but
    does not delete the sidecar. Remove it only if the saved model refers to no
    external data and the sidecar was written by this export.
    """
    import onnx
    from onnx.external_data_helper import uses_external_data

    sidecar = out_path + ".data"
    if not os.path.exists(sidecar) or os.path.getmtime(sidecar) < started - 1:
        return
    saved = onnx.load(out_path, load_external_data=False)
    tensors = list(saved.graph.initializer) + [
        a.t for n in saved.graph.node for a in n.attribute if a.HasField("t")]
    if any(uses_external_data(t) for t in tensors):
        return
    os.remove(sidecar)


def op_histogram(path):
    import onnx

    model = onnx.load(path)
    counts = collections.Counter(node.op_type for node in model.graph.node)
    return model, counts


def format_histogram(counts):
    return ", ".join(f"{op} x{n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def check_runs(path, model, shape):
    """Run the file once in qonnx's executor and in onnxruntime; compare with torch."""
    import numpy as np
    import onnx
    import torch

    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, size=shape).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    results = {}

    try:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx

        wrapper = ModelWrapper(path)
        in_name = wrapper.graph.input[0].name
        out_name = wrapper.graph.output[0].name
        got = execute_onnx(wrapper, {in_name: x})[out_name]
        results["qonnx"] = float(np.max(np.abs(got - expected)))
    except Exception as exc:  # report, do not hide
        results["qonnx"] = f"failed: {type(exc).__name__}: {exc}"

    custom = sorted({n.domain for n in onnx.load(path).graph.node if n.domain not in ("", "ai.onnx")})
    if custom:
        results["onnxruntime"] = f"not run: it has no kernels for the {', '.join(custom)} ops"
        return results
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        results["onnxruntime"] = float(np.max(np.abs(got - expected)))
    except Exception as exc:
        results["onnxruntime"] = f"failed: {type(exc).__name__}: {exc}"
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True,
                        help="bnn_pynq model name, e.g. tfc_2w2a (repeatable)")
    parser.add_argument("--seed", action="append", type=int, required=True,
                        help="torch.manual_seed value (one per --model)")
    parser.add_argument("--out", action="append", default=None,
                        help="output path (one per --model; default brevitas_<model>_seed<N>.onnx)")
    parser.add_argument("--check", action="store_true",
                        help="run each exported file in qonnx's executor and onnxruntime")
    args = parser.parse_args(argv)

    if len(args.seed) != len(args.model):
        parser.error("give exactly one --seed per --model")
    outs = args.out or [f"brevitas_{m}_seed{s}.onnx" for m, s in zip(args.model, args.seed)]
    if len(outs) != len(args.model):
        parser.error("give exactly one --out per --model, or none at all")

    import brevitas
    import onnx
    import torch

    print(f"torch {torch.__version__}, brevitas {brevitas.__version__}, onnx {onnx.__version__}")
    for name, seed, out in zip(args.model, args.seed, outs):
        model, n_bn, shape = export(name, seed, out)
        onnx_model, counts = op_histogram(out)
        opsets = {o.domain or "ai.onnx": o.version for o in onnx_model.opset_import}
        print(f"{out}: {name} seed {seed}, input {'x'.join(map(str, shape))}, "
              f"{n_bn} BatchNorms randomised, {os.path.getsize(out)} bytes, opsets {opsets}")
        print(f"  ops ({len(onnx_model.graph.node)} nodes): {format_histogram(counts)}")
        if args.check:
            for engine, res in check_runs(out, model, shape).items():
                if isinstance(res, float):
                    print(f"  {engine}: ran, max |onnx - torch| = {res:.3g}")
                else:
                    print(f"  {engine}: {res}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
