#!/usr/bin/env python3
"""Writes tests/fixtures/diagram-like.bif: DiAGRAM's structure with numbers invented here.

Each child's first-state probability is a base plus weighted "goodness" of its parents'
states, rounded to 3 decimals; none of DiAGRAM's own numbers are used.
Run from the crate root: python3 scripts/make-diagram-like-bif.py
"""
from itertools import product

roots = {
    "Op_Environment": (["Yes", "No"], [0.62, 0.38]),
    "System_Security": (["Good", "Poor"], [0.41, 0.59]),
    "Info_Management": (["Sufficient", "Insufficient"], [0.55, 0.45]),
    "Storage_Medium": (["A", "B", "C"], [0.3, 0.5, 0.2]),
    "Rep_and_Refresh": (["Good", "Poor"], [0.7, 0.3]),
    "Digital_Object": (["Born_digital", "Digitised", "Surrogate"], [0.45, 0.35, 0.2]),
    "Checksum": (["Yes", "Self_Generated", "No"], [0.5, 0.2, 0.3]),
    "Physical_Disaster": (["Yes", "No"], [0.02, 0.98]),
    "Technical_Skills": (["Good", "Poor"], [0.6, 0.4]),
}
# goodness of each state (1 = best for preservation)
good = {
    "Op_Environment": [1, 0], "System_Security": [1, 0], "Info_Management": [1, 0],
    "Storage_Medium": [0.2, 0.7, 1.0], "Rep_and_Refresh": [1, 0],
    "Digital_Object": [0.9, 0.6, 0.1], "Checksum": [1, 0.6, 0], "Physical_Disaster": [0, 1],
    "Technical_Skills": [1, 0], "Integrity": [1, 0], "Content_Metadata": [1, 0],
    "Tech_Metadata": [1, 0], "File_Format": [1, 0], "Obsolescence": [0, 1],
    "Tools_to_Render": [1, 0], "Conditions_of_Use": [1, 0], "Identity": [1, 0],
    "Storage_Life": [1, 0], "Bit_Preservation": [1, 0],
}
# child: (states, parents, base, weights, invert) -> P(first state) = base + sum(w * goodness)
children = [
    ("Integrity", ["Yes", "No"], ["System_Security", "Info_Management", "Checksum"], 0.12, [0.31, 0.17, 0.38], False),
    ("Content_Metadata", ["Yes", "No"], ["Digital_Object"], 0.23, [0.64], False),
    ("Tech_Metadata", ["Sufficient", "Insufficient"], ["Technical_Skills"], 0.29, [0.52], False),
    ("File_Format", ["Yes", "No"], ["Digital_Object"], 0.18, [0.71], False),
    # Yes = obsolete, so good parents lower it
    ("Obsolescence", ["Yes", "No"], ["Storage_Medium", "Technical_Skills"], 0.81, [-0.44, -0.29], False),
    ("Tools_to_Render", ["Yes", "No"], ["File_Format", "Technical_Skills"], 0.14, [0.47, 0.33], False),
    ("Conditions_of_Use", ["Yes", "No"], ["Digital_Object"], 0.37, [0.49], False),
    ("Identity", ["Yes", "No"], ["Info_Management", "Content_Metadata"], 0.08, [0.46, 0.39], False),
    ("Storage_Life", ["Yes", "No"], ["Op_Environment", "Storage_Medium", "Rep_and_Refresh", "Physical_Disaster"],
     0.05, [0.21, 0.27, 0.24, 0.19], False),
    ("Bit_Preservation", ["Yes", "No"], ["Integrity", "Obsolescence", "Storage_Life"], 0.06, [0.28, 0.26, 0.37], False),
    ("Intellectual_Control", ["Yes", "No"], ["Conditions_of_Use", "Identity"], 0.11, [0.36, 0.49], False),
    ("Renderability", ["Yes", "No"], ["Tech_Metadata", "Tools_to_Render", "Bit_Preservation"], 0.04, [0.22, 0.35, 0.36], False),
]
states = {k: v[0] for k, v in roots.items()}
for c in children:
    states[c[0]] = c[1]

def fmt(x):
    return repr(round(x, 3))

out = ["// DiAGRAM's structure (21 nodes) with invented numbers, for reportq's tests.",
       "/* Not DiAGRAM's model.bif: every number here comes from",
       "   scripts/make-diagram-like-bif.py. */",
       "network diagram_like {", "    property source = invented ;", "}"]
for name in list(roots) + [c[0] for c in children]:
    s = states[name]
    prop = "    property question = checksums ;\n" if name == "Checksum" else ""
    out.append(f"variable {name} {{\n    type discrete [ {len(s)} ] {{ {', '.join(s)} }};\n{prop}}}")
for name, (s, prior) in roots.items():
    note = "    // the frontend sends \"Born digital\" for Born_digital\n" if name == "Digital_Object" else ""
    out.append(f"probability ( {name} ) {{\n{note}    table {', '.join(fmt(p) for p in prior)};\n}}")
for name, s, parents, base, weights, _ in children:
    lines = [f"probability ( {name} | {', '.join(parents)} ) {{"]
    for combo in product(*[range(len(states[p])) for p in parents]):
        p = base + sum(w * good[par][k] for w, par, k in zip(weights, parents, combo))
        p = round(min(0.99, max(0.01, p)), 3)
        names = ", ".join(states[par][k] for par, k in zip(parents, combo))
        lines.append(f"    ({names}) {fmt(p)}, {fmt(1 - p)};")
    lines.append("}")
    out.append("\n".join(lines))
open("tests/fixtures/diagram-like.bif", "w").write("\n".join(out) + "\n")
