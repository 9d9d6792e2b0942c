"""Build ``gsm_symbolic.jsonl``: grade-school word problems with gold answers and worked
solutions, from the 100 GSM-Symbolic style generators of ``reasoning-gym==0.1.25``
(Apache-2.0; see LICENSES.md), two seeded draws each.

Run once at build time (not at run time): ``pip download --no-deps reasoning-gym==0.1.25``,
unpack the wheel, then ``python make_gsm_symbolic.py UNPACKED/reasoning_gym``. Only the
generator modules and ``utils.py`` are loaded, so the package's own dependencies are not needed.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import types
from pathlib import Path

SEEDS = (0, 1)


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main(root: Path, out: Path) -> None:
    package = types.ModuleType("reasoning_gym")
    package.__path__ = []  # a namespace stub: do not import the package's __init__
    sys.modules["reasoning_gym"] = package
    _load("reasoning_gym.utils", root / "utils.py")
    folder = root / "arithmetic" / "gsm_symbolic"
    modules = [_load(f.stem, f) for f in sorted(folder.glob("generators_*.py"))]
    generators = sorted(
        (
            (int(n.split("_")[1]), getattr(m, n))
            for m in modules
            for n in dir(m)
            if n.startswith("generate_")
        ),
        key=lambda pair: pair[0],
    )
    with out.open("w") as handle:
        for number, generate in generators:
            for seed in SEEDS:
                item = generate(random.Random(seed))
                row = {
                    "id": f"gsm_symbolic_{number}_{seed}",
                    "question": item["question"],
                    "answer": item["answer"],
                    "solution": item["metadata"]["answer_cot"],
                }
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).with_name("gsm_symbolic.jsonl"))
