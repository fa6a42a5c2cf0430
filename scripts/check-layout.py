#!/usr/bin/env python3
"""The layout rules of src/ (README, "Layout"), checked without compiling:

1. no import loop between the crate's top-level modules (`crate::a` in b and `crate::b` in a,
   directly or through others), so each module has a floor and nothing above it is imported;
2. no source file over 500 lines;
3. the AWS implementations of the store and the queue (`S3Store`, `SqsQueue`) named only by the
   wiring module (src/startup.rs) and by store/ and queue/ themselves;
4. the store owns its keys: `store::keys` (the bucket's layout) and `store::records` (untyped
   reads and writes) used only inside store/; everyone else goes through the typed stores.

Exit 1 with each finding on its own line; `--self-test` first proves each rule catches a
breach in a copy of the tree.
"""
import re
import shutil
import sys
import tempfile
from pathlib import Path

MAX_LINES = 500
WIRING_ONLY = ("S3Store", "SqsQueue")
WIRING_FILES = ("startup.rs",)
WIRING_DIRS = ("store", "queue")
STORE_ONLY = re.compile(r"\bstore::(keys|records)\b|\bstore::\{[^}]*\b(keys|records)\b")


def module_of(src: Path, f: Path):
    rel = f.relative_to(src)
    if rel.parts[0] == "bin" or rel.name in ("main.rs", "lib.rs") and len(rel.parts) == 1:
        return None
    return rel.parts[0].removesuffix(".rs")


def code(text: str) -> str:
    # Comments and doc comments say things about other modules; only code imports them.
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def check(src: Path):
    problems = []
    files = sorted(src.rglob("*.rs"))
    edges = {}
    for f in files:
        text = f.read_text()
        n = text.count("\n")
        if n > MAX_LINES:
            problems.append(f"{f.relative_to(src.parent)}: {n} lines (at most {MAX_LINES})")
        m = module_of(src, f)
        body = code(text)
        if m is not None:
            for used in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", body):
                if used != m:
                    edges.setdefault(m, set()).add(used)
        rel = f.relative_to(src)
        allowed = rel.name in WIRING_FILES and len(rel.parts) == 1 or rel.parts[0] in WIRING_DIRS
        if not allowed:
            for name in WIRING_ONLY:
                if re.search(rf"\b{name}\b", body):
                    problems.append(f"{f.relative_to(src.parent)}: names {name} (only src/startup.rs wires the AWS implementations)")
        if rel.parts[0] != "store" and STORE_ONLY.search(body):
            problems.append(f"{f.relative_to(src.parent)}: uses store keys or records (only store/ builds keys; use a typed store)")
    # Loops: a module that can reach itself.
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for n in edges.get(todo.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen
    loops = set()
    for m in sorted(edges):
        if m in reach(m):
            members = sorted(n for n in reach(m) if m in reach(n))
            loops.add(" <-> ".join(members))
    problems += [f"import loop: {l}" for l in sorted(loops)]
    return problems


def self_test(src: Path):
    with tempfile.TemporaryDirectory() as d:
        for breach, change in [
            ("import loop", lambda t: (t / "domain" / "mod.rs").open("a").write("\nuse crate::worker::Worker;\n")),
            ("lines", lambda t: (t / "domain" / "mod.rs").open("a").write("\n" * (MAX_LINES + 1))),
            ("names S3Store", lambda t: (t / "render.rs").open("a").write("\ntype X = crate::store::S3Store;\n")),
            ("store keys", lambda t: (t / "access.rs").open("a").write("\nuse crate::store::{Put, keys};\n")),
        ]:
            copy = Path(d) / "src"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(src, copy)
            change(copy)
            if not any(breach in p for p in check(copy)):
                print(f"check-layout: self-test: a {breach!r} breach was not caught", file=sys.stderr)
                return False
    return True


def main():
    src = Path(__file__).resolve().parent.parent / "src"
    if "--self-test" in sys.argv and not self_test(src):
        return 1
    problems = check(src)
    for p in problems:
        print(f"check-layout: {p}", file=sys.stderr)
    if not problems:
        print("check-layout: no import loop, no file over 500 lines, S3Store/SqsQueue wired in one place, store keys kept in store/" + (" (self-test ok)" if "--self-test" in sys.argv else ""), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
