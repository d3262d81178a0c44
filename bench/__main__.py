"""Run every benchmark module (`bench/*_bench.py`), or the ones named: `python -m bench sla tickets`."""

import importlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tourbrain_support.settings")


def main(argv: list[str]) -> int:
    import django

    django.setup()
    available = sorted(path.stem.removesuffix("_bench") for path in Path(__file__).parent.glob("*_bench.py"))
    selected = argv or available
    unknown = set(selected) - set(available)
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(sorted(unknown))}. Available: {', '.join(available)}")
        return 2
    for name in selected:
        module = importlib.import_module(f"bench.{name}_bench")
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        module.main()
        print(f"--- {name} done in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
