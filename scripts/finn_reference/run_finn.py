#!/usr/bin/env python3
"""Time FINN's own compilation flow (PyPI ``finn-plus``), stage by stage.

Usage::

    run_finn.py MODEL.onnx OUT_DIR [--target-cycles N] [--json] [--strict]

MODEL.onnx is a QONNX export from Brevitas (e.g. bnn_pynq's tfc_1w1a or cnv_1w1a),
without pre- or post-processing: this script adds FINN's usual ones itself, the way
FINN's bnn-pynq end-to-end test does. OUT_DIR receives FINN's build directory
(``OUT_DIR/build``, FINN_BUILD_DIR), its intermediate models and reports, and the
generated sources; a fresh directory per run keeps runs apart.

Stages, in order (each timed with time.perf_counter):

  import         process start (from /proc, if readable) until all of FINN is imported
  load           ModelWrapper(MODEL)
  qonnx_to_finn  FINN's step_qonnx_to_finn: qonnx's cleanup_model, ConvertQONNXtoFINN
  tidy_up        FINN's step_tidy_up
  pre_post       FINN's bnn-pynq pre/post-processing: a Div-by-255 model merged in front
                 (MergeONNXModels), input annotated UINT8, InsertTopK(k=1), then
                 step_tidy_up again (as the end-to-end test does)
  streamline     FINN's step_streamline (with the conv lowering when Conv nodes exist)
  convert_to_hw  FINN's step_convert_to_hw, step_minimize_bit_width_initial,
                 step_create_dataflow_partition (FINN's default order)
  specialize     FINN's step_specialize_layers
  folding        SetFolding(target_cycles_per_frame=N), as step_target_fps_parallelization
  codegen        FINN's step_minimize_bit_width (RoundAndClipThresholds, which code
                 generation requires), InsertDWC + SpecializeLayers for the new width
                 converters, then FINN's step_hw_codegen (PrepareIP: HLS C++ sources
                 and filled RTL templates; it calls no vitis_hls/Vivado)

With --json, stdout carries exactly one JSON object:
  {"finn_version", "model", "target_cycles", "stages": [{"stage", "seconds",
   "nodes_after", "ok", "note", ...}], "total_seconds"}
Everything else (FINN's prints and logs) goes to stderr. A stage that fails is reported
with ok=false and the exception text in "note"; later stages are then skipped
(seconds=null). The exit status is 0 whenever the report was written, unless --strict
is given, in which case any failed stage makes it 1.
"""

# ---------------------------------------------------------------------------
# Time origin: taken before anything heavy is imported.
import time

_T_SCRIPT = time.perf_counter()

import os  # noqa: E402
import sys  # noqa: E402


def _interpreter_startup_seconds():
    """Seconds between this process's start and now (Linux /proc), or None."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
        # the command name may contain spaces: fields follow the last ')'
        fields = stat[stat.rindex(")") + 2 :].split()
        start_ticks = int(fields[19])  # field 22 overall: starttime
        hz = os.sysconf("SC_CLK_TCK")
        now = time.clock_gettime(time.CLOCK_BOOTTIME)
        return max(0.0, now - start_ticks / hz)
    except Exception:
        return None


_STARTUP = _interpreter_startup_seconds()

# Everything written to file descriptor 1 (FINN's print() calls, C extensions,
# subprocesses) is sent to stderr; the report goes to the saved real stdout.
_REAL_STDOUT_FD = os.dup(1)
os.dup2(2, 1)
sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)


def _parse_args(argv):
    import argparse

    p = argparse.ArgumentParser(
        description="Run FINN's (finn-plus) flow stage by stage and time each stage."
    )
    p.add_argument("model", help="QONNX model exported by Brevitas")
    p.add_argument("out_dir", help="output directory (FINN build dir, reports, sources)")
    p.add_argument("--target-cycles", type=int, default=1000, help="SetFolding target (1000)")
    p.add_argument("--json", action="store_true", help="print one JSON report on stdout")
    p.add_argument("--strict", action="store_true", help="exit 1 if any stage failed")
    p.add_argument("--fpga-part", default="xc7z020clg400-1", help="part (Pynq-Z1's by default)")
    p.add_argument("--clk-ns", type=float, default=10.0, help="clock period in ns (10)")
    return p.parse_args(argv)


ARGS = _parse_args(sys.argv[1:])
OUT_DIR = os.path.abspath(ARGS.out_dir)
BUILD_DIR = os.path.join(OUT_DIR, "build")
os.makedirs(BUILD_DIR, exist_ok=True)
# FINN places generated code under FINN_BUILD_DIR; its settings object is rebuilt
# from this variable when FINN is used outside its own CLI.
os.environ["FINN_BUILD_DIR"] = BUILD_DIR

# ---------------------------------------------------------------------------
# Imports of FINN (part of the "import" stage).
import json  # noqa: E402
import traceback  # noqa: E402
from collections import Counter  # noqa: E402
from importlib.metadata import version as _pkg_version  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from qonnx.core.datatype import DataType  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.transformation.fold_constants import FoldConstants  # noqa: E402
from qonnx.transformation.general import GiveReadableTensorNames  # noqa: E402
from qonnx.transformation.infer_shapes import InferShapes  # noqa: E402
from qonnx.transformation.insert_topk import InsertTopK  # noqa: E402
from qonnx.transformation.merge_onnx_models import MergeONNXModels  # noqa: E402

import finn.xsi  # noqa: E402

# build_dataflow_steps does `from finn.xsi import SimEngine`, and finn.xsi binds that
# name only after checking for Vivado (XILINX_VIVADO) and building its simulator
# extension, otherwise it raises OSError at import. The name is used there only as a
# type annotation of a verification hook; none of the steps run here simulates. So it
# is bound to a placeholder when no Vivado is present.
if "SimEngine" not in vars(finn.xsi):
    finn.xsi.SimEngine = None

from finn.builder import build_dataflow_steps as steps  # noqa: E402
from finn.builder.build_dataflow_config import DataflowBuildConfig  # noqa: E402
from finn.transformation.fpgadataflow.insert_dwc import InsertDWC  # noqa: E402
from finn.transformation.fpgadataflow.set_folding import SetFolding  # noqa: E402
from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers  # noqa: E402
from finn.transformation.qonnx.give_unique_node_names_recursive import (  # noqa: E402
    GiveUniqueNodeNamesRecursive,
)

_T_IMPORTED = time.perf_counter()

HW_DOMAIN = "finn.custom_op.fpgadataflow"


def log(msg):
    print(f"[run_finn] {msg}", file=sys.stderr, flush=True)


def histogram(model):
    return dict(sorted(Counter(n.op_type for n in model.graph.node).items()))


def software_nodes(model):
    """(name, op_type) of every node that is not one of FINN's hardware layers."""
    return [(n.name, n.op_type) for n in model.graph.node if not n.domain.startswith(HW_DOMAIN)]


def _lap(parts, name, t0):
    """Record the seconds since t0 under name; return the current time."""
    now = time.perf_counter()
    parts[name] = now - t0
    return now


def preproc_model(model):
    """A one-node model computing x / 255 on the network input's shape, the graph
    torchvision's ToTensor (FINN's tests' ToTensor module) exports to."""
    inp = model.graph.input[0]
    shape = model.get_tensor_shape(inp.name)
    x = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("scaled", TensorProto.FLOAT, shape)
    scale = helper.make_tensor("scale_255", TensorProto.FLOAT, [], [255.0])
    node = helper.make_node("Div", ["pixels", "scale_255"], ["scaled"], name="ToTensor_Div")
    graph = helper.make_graph([node], "preproc", [x], [y], initializer=[scale])
    opset = model.model.opset_import[0].version if model.model.opset_import else 13
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = model.model.ir_version
    pre = ModelWrapper(m)
    pre = pre.transform(InferShapes())
    pre = pre.transform(FoldConstants())
    return pre


class Flow:
    """Holds the model between stages and FINN's build configuration."""

    def __init__(self, model_path, out_dir, target_cycles, fpga_part, clk_ns):
        self.model_path = model_path
        self.target_cycles = target_cycles
        self.model = None
        self.parent = None  # the model with the software nodes, after partitioning
        self.cfg = DataflowBuildConfig(
            output_dir=out_dir,
            fpga_part=fpga_part,
            synth_clk_period_ns=clk_ns,
            generate_outputs=[],
            verify_steps=None,
            save_intermediate_models=True,
        )

    # Each stage returns (note, extra fields for the report).
    def load(self):
        self.model = ModelWrapper(self.model_path)
        return "ModelWrapper(file)", {}

    def qonnx_to_finn(self):
        self.model = steps.step_qonnx_to_finn(self.model, self.cfg)
        return "step_qonnx_to_finn: cleanup_model + ConvertQONNXtoFINN", {}

    def tidy_up(self):
        self.model = steps.step_tidy_up(self.model, self.cfg)
        return "step_tidy_up", {}

    def pre_post(self):
        m = self.model.transform(MergeONNXModels(preproc_model(self.model)))
        m.set_tensor_datatype(m.graph.input[0].name, DataType["UINT8"])
        m = m.transform(InsertTopK(k=1))
        self.model = steps.step_tidy_up(m, self.cfg)
        return (
            "bnn-pynq end2end: Div-by-255 merged in front (MergeONNXModels), input UINT8, "
            "InsertTopK(k=1), step_tidy_up again",
            {},
        )

    def streamline(self):
        lowered = len(self.model.get_nodes_by_op_type("Conv")) > 0
        self.model = steps.step_streamline(self.model, self.cfg)
        return "step_streamline" + (" (with conv lowering)" if lowered else ""), {}

    def convert_to_hw(self):
        parts = {}
        t = time.perf_counter()
        m = steps.step_convert_to_hw(self.model, self.cfg)
        t = _lap(parts, "step_convert_to_hw", t)
        full_hist = histogram(m)
        soft = software_nodes(m)
        t = time.perf_counter()
        m = steps.step_minimize_bit_width_initial(m, self.cfg)
        t = _lap(parts, "step_minimize_bit_width_initial", t)
        self.model = steps.step_create_dataflow_partition(m, self.cfg)
        _lap(parts, "step_create_dataflow_partition", t)
        extra = {
            "parts": parts,
            "op_types_before_partition": full_hist,
            "software_nodes": [f"{name} ({op})" for name, op in soft],
            "op_types": histogram(self.model),
        }
        return (
            "step_convert_to_hw + step_minimize_bit_width_initial + "
            "step_create_dataflow_partition",
            extra,
        )

    def specialize(self):
        self.model = steps.step_specialize_layers(self.model, self.cfg)
        return "step_specialize_layers", {"op_types": histogram(self.model)}

    def folding(self):
        self.model = self.model.transform(
            SetFolding(
                self.target_cycles,
                mvau_wwidth_max=self.cfg.mvau_wwidth_max,
                two_pass_relaxation=self.cfg.folding_two_pass_relaxation,
            ),
            apply_to_subgraphs=True,
        )
        self.model = self.model.transform(GiveUniqueNodeNamesRecursive())
        return f"SetFolding(target_cycles_per_frame={self.target_cycles})", {}

    def codegen(self):
        parts = {}
        t = time.perf_counter()
        m = steps.step_minimize_bit_width(self.model, self.cfg)
        t = _lap(parts, "step_minimize_bit_width", t)
        m = m.transform(InsertDWC())
        m = m.transform(SpecializeLayers(self.cfg._resolve_fpga_part()))
        m = m.transform(GiveUniqueNodeNamesRecursive())
        m = m.transform(GiveReadableTensorNames())
        t = _lap(parts, "InsertDWC+SpecializeLayers", t)
        m = steps.step_hw_codegen(m, self.cfg)
        _lap(parts, "step_hw_codegen", t)
        self.model = m
        note = "step_minimize_bit_width, InsertDWC + SpecializeLayers, step_hw_codegen (PrepareIP)"
        return note, {"parts": parts, "op_types": histogram(m)}

    def check_codegen(self, entry):
        """After timing: every hardware node must have a directory of generated files."""
        files = 0
        dirs = 0
        missing = []
        for node in self.model.graph.node:
            if not node.domain.startswith(HW_DOMAIN):
                continue
            attr = [a for a in node.attribute if a.name == "code_gen_dir_ipgen"]
            d = helper.get_attribute_value(attr[0]).decode() if attr else ""
            if d and os.path.isdir(d):
                dirs += 1
                files += sum(len(fs) for _, _, fs in os.walk(d))
            else:
                missing.append(node.name)
        entry["generated_files"] = files
        entry["note"] += f": {dirs} node directories, {files} files"
        if missing:
            entry["ok"] = False
            entry["note"] += "; no generated sources for: " + ", ".join(missing)


STAGES = [
    "load",
    "qonnx_to_finn",
    "tidy_up",
    "pre_post",
    "streamline",
    "convert_to_hw",
    "specialize",
    "folding",
    "codegen",
]


def main():
    report = {
        "finn_version": _pkg_version("finn-plus"),
        "qonnx_version": _pkg_version("qonnx"),
        "model": os.path.abspath(ARGS.model),
        "target_cycles": ARGS.target_cycles,
        "stages": [],
    }
    import_s = _T_IMPORTED - _T_SCRIPT
    note = "Python start-up and imports of FINN/qonnx/onnx"
    if _STARTUP is not None:
        import_s += _STARTUP
        note += f" (interpreter start-up before the script: {_STARTUP:.3f} s)"
    else:
        note += " (interpreter start-up before the script not measurable here)"
    report["stages"].append(
        {"stage": "import", "seconds": import_s, "nodes_after": 0, "ok": True, "note": note}
    )
    log(f"finn-plus {report['finn_version']}, import took {import_s:.3f} s")

    flow = Flow(
        os.path.abspath(ARGS.model), OUT_DIR, ARGS.target_cycles, ARGS.fpga_part, ARGS.clk_ns
    )
    failed = None
    for name in STAGES:
        if failed is not None:
            report["stages"].append(
                {
                    "stage": name,
                    "seconds": None,
                    "nodes_after": None,
                    "ok": False,
                    "note": f"skipped: stage {failed} failed",
                }
            )
            continue
        log(f"stage {name} ...")
        t0 = time.perf_counter()
        try:
            note, extra = getattr(flow, name)()
            ok = True
        except Exception as e:  # report and stop
            note = f"{type(e).__name__}: {e}".strip()
            extra = {}
            ok = False
            failed = name
            traceback.print_exc(file=sys.stderr)
        seconds = time.perf_counter() - t0
        nodes = len(flow.model.graph.node) if flow.model is not None else 0
        entry = {"stage": name, "seconds": seconds, "nodes_after": nodes, "ok": ok, "note": note}
        entry.update(extra)
        check = getattr(flow, f"check_{name}", None)
        if ok and check is not None:
            check(entry)
            ok = entry["ok"]
            failed = None if ok else name
        report["stages"].append(entry)
        log(f"stage {name}: {seconds:.3f} s, {nodes} nodes, ok={ok}: {entry['note']}")
        if ok and flow.model is not None:
            flow.model.save(os.path.join(OUT_DIR, f"after_{name}.onnx"))

    report["total_seconds"] = sum(s["seconds"] or 0.0 for s in report["stages"])
    out = os.fdopen(_REAL_STDOUT_FD, "w")
    if ARGS.json:
        out.write(json.dumps(report) + "\n")
    else:
        out.write(f"finn-plus {report['finn_version']} on {report['model']}\n")
        for s in report["stages"]:
            secs = "-" if s["seconds"] is None else f"{s['seconds']:.3f} s"
            out.write(
                f"  {s['stage']:<14} {secs:>10}  nodes={s['nodes_after']}  "
                f"ok={s['ok']}  {s['note']}\n"
            )
            for key in ("parts", "software_nodes", "op_types"):
                if key in s:
                    out.write(f"  {'':<14} {key}: {s[key]}\n")
        out.write(f"  total {report['total_seconds']:.3f} s\n")
    out.flush()
    if ARGS.strict and failed is not None:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
