"""The qonnx oracle's side of `cargo xtask bench-transforms`: a transform recipe on one
model, applied as ../shared/oracle/run_qonnx.py applies it (ModelWrapper.transform with
qonnx's own cleanup after each transform), several times in this one process, each time on
a freshly loaded model.

Usage: oracle_recipe.py ORACLE_DIR MODEL RECIPE BUDGET_SECONDS MAX_RUNS OUTPUT

Prints one JSON line: {"runs", "first", "best", "nodes", "load", "save"}, times in seconds
("first": the first application in this process, as run_qonnx.py times it; "best": the
fastest application; "load" and "save": the first run's `ModelWrapper(MODEL)` and
`model.save(OUTPUT)`, so that load + first + save is the whole command in this process,
without the interpreter's start and imports), "nodes" after the recipe. OUTPUT is removed
before the save and after it.
"""
import json
import os
import sys
import time


def main():
    oracle_dir, model_path, recipe, budget, max_runs, output = sys.argv[1:7]
    sys.path.insert(0, oracle_dir)
    from run_qonnx import TRANSFORMS, parse_spec
    from qonnx.core.modelwrapper import ModelWrapper

    steps = parse_spec(recipe)
    times, nodes, spent = [], 0, 0.0
    load = save = None
    while len(times) < int(max_runs) and (not times or spent < float(budget)):
        start = time.perf_counter()
        model = ModelWrapper(model_path)
        loaded = time.perf_counter()
        for name, arg in steps:
            ctor = TRANSFORMS[name]
            model = model.transform(ctor(arg) if arg is not None else ctor(), cleanup=True)
        elapsed = time.perf_counter() - loaded
        if load is None:
            load = loaded - start
            if os.path.exists(output):
                os.remove(output)
            before_save = time.perf_counter()
            model.save(output)
            save = time.perf_counter() - before_save
            os.remove(output)
        times.append(elapsed)
        spent += elapsed
        nodes = len(model.graph.node)
    print(json.dumps({
        "runs": len(times),
        "first": times[0],
        "best": min(times),
        "nodes": nodes,
        "load": load,
        "save": save,
    }))


if __name__ == "__main__":
    main()
