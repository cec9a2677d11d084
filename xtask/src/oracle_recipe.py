"""The qonnx oracle's side of `cargo xtask bench-transforms`: a transform recipe on one
model, applied as ../shared/oracle/run_qonnx.py applies it (ModelWrapper.transform with
qonnx's own cleanup after each transform), several times in this one process, each time on
a freshly loaded model; loading is not timed.

Usage: oracle_recipe.py ORACLE_DIR MODEL RECIPE BUDGET_SECONDS MAX_RUNS

Prints one JSON line: {"runs", "first", "best", "nodes"}, times in seconds ("first": the
first application in this process, as run_qonnx.py times it), "nodes" after the recipe.
"""
import json
import sys
import time


def main():
    oracle_dir, model_path, recipe, budget, max_runs = sys.argv[1:6]
    sys.path.insert(0, oracle_dir)
    from run_qonnx import TRANSFORMS, parse_spec
    from qonnx.core.modelwrapper import ModelWrapper

    steps = parse_spec(recipe)
    times, nodes, spent = [], 0, 0.0
    while len(times) < int(max_runs) and (not times or spent < float(budget)):
        model = ModelWrapper(model_path)
        start = time.perf_counter()
        for name, arg in steps:
            ctor = TRANSFORMS[name]
            model = model.transform(ctor(arg) if arg is not None else ctor(), cleanup=True)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        spent += elapsed
        nodes = len(model.graph.node)
    print(json.dumps({"runs": len(times), "first": times[0], "best": min(times), "nodes": nodes}))


if __name__ == "__main__":
    main()
