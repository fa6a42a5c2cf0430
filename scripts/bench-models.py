#!/usr/bin/env python3
"""How a DiAGRAM report's render time grows with the number of models: the measurement the
60-model cap (MAX_MODELS in src/domain/diagram/mod.rs) is set from.

    scripts/bench-models.py [BIN] [N ...]      default: target/release/reportq, 10 30 60 120

The default PDF standard (tagged PDF/A-2a + UA-1); BENCH_STANDARD=a-2b (or any standard) asks
for another. BENCH_SHAPES=advanced (comma-separated shape names) runs only those shapes.

Three shapes of request, each N models: every model its own archive (a section, a chart and a
full answer table each: the most pages), one archive with N scenarios (one chart of N bars,
a table of differences each), and N advanced models (probability tables instead of answers,
with the DiAGRAM-shaped test network's tables). Each render is a fresh `reportq render` (what a
worker does per job, bar the process start), timed twice; the best is printed with the page count.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def render(bin_, request, out):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(request, f)
    try:
        best = None
        for _ in range(2):
            t = time.perf_counter()
            r = subprocess.run([bin_, "render", f.name, "-o", out, "--epoch", "1764547200"], capture_output=True, text=True)
            took = time.perf_counter() - t
            if r.returncode != 0:
                return None, r.stderr.strip().splitlines()[-1]
            best = took if best is None else min(best, took)
        pages = subprocess.run(["pdfinfo", out], capture_output=True, text=True).stdout
        pages = next((l.split()[-1] for l in pages.splitlines() if l.startswith("Pages:")), "?")
        return best, pages
    finally:
        os.unlink(f.name)


def main():
    args = sys.argv[1:]
    bin_ = args.pop(0) if args and not args[0].isdigit() else os.path.join(ROOT, "target/release/reportq")
    sizes = [int(a) for a in args] or [10, 30, 60, 120]
    example = json.load(open(os.path.join(ROOT, "examples/diagram.json")))
    base = example["params"]["models"][0]
    scored = subprocess.run([bin_, "score", "-", "--model", os.path.join(ROOT, "tests/fixtures/diagram-like.bif")],
                            input=json.dumps(base), capture_output=True, text=True, check=True)
    nodes = json.loads(scored.stdout)["nodes"]

    def archives(n):
        return [dict(base, model_name=f"Archive {i:03}", scenario="Base Model") for i in range(n)]

    def scenarios(n):
        return [dict(base, model_name="One Archive", scenario="Base Model" if i == 0 else f"Scenario {i:03}") for i in range(n)]

    def advanced(n):
        return [dict(base, model_name=f"Advanced {i:03}", scenario="Base Model", response=None, is_advanced=True, advanced=nodes)
                for i in range(n)]

    print(f"{'shape':<22}{'models':>7}{'seconds':>9}{'pages':>7}{'s/model':>9}")
    with tempfile.TemporaryDirectory() as d:
        only = [s for s in os.environ.get("BENCH_SHAPES", "").split(",") if s]
        for name, make in (("one archive each", archives), ("scenarios of one", scenarios), ("advanced models", advanced)):
            if only and not any(name.startswith(s) for s in only):
                continue
            for n in sizes:
                req = {"template": "diagram", "params": {"models": make(n)}}
                if os.environ.get("BENCH_STANDARD"):
                    req["pdf"] = {"standard": os.environ["BENCH_STANDARD"]}
                took, pages = render(bin_, req, os.path.join(d, "r.pdf"))
                if took is None:
                    print(f"{name:<22}{n:>7}   refused: {pages}")
                    continue
                print(f"{name:<22}{n:>7}{took:>9.2f}{pages:>7}{took / n:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
