#!/usr/bin/env python3
"""Independent reference scores for tests/fixtures/diagram-like.bif, computed with pgmpy.

Reads the fixture network and tests/fixtures/answer-sets.json, applies DiAGRAM's
answer-to-prior rules (re-implemented here from shared/diagram-scoring.md, not from the Rust
code), runs pgmpy's exact VariableElimination, and writes tests/fixtures/pgmpy-reference.json.

    python3 -m venv /tmp/pgmpy-venv && /tmp/pgmpy-venv/bin/pip install pgmpy==1.1.2
    /tmp/pgmpy-venv/bin/python scripts/pgmpy-reference.py      # from the crate root
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pgmpy
from pgmpy.factors.discrete import TabularCPD
from pgmpy.inference import VariableElimination
from pgmpy.readwrite import BIFReader

warnings.filterwarnings("ignore")
FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

SKILL = {"None": 0, "Basic": 3, "Intermediate": 6, "Advanced": 10}
ACCRED = {"No": 0, "Cyber Essentials": 10, "Cyber Essentials Plus": 40, "ISO 27001": 70}
PEN = {"No test": 0, "Critical issues outstanding": 5, "Severe issues outstanding": 10,
       "None, or only minor issues outstanding": 15}
CONTROL = {"Not achieved": 0, "Level 1": 2, "Level 2": 4, "Level 3": 7, "Level 4": 10}
VIRUS = {"No": 0, "Yes": 5}
META = {"Not achieved": 0, "Level 1": 7, "Level 2": 14, "Level 3": 21, "Level 4": 28}
CONTENT = {"Not achieved": 0, "Level 1": 8, "Level 2": 16, "Level 3": 16, "Level 4": 16}
CAPAB = {"Minimal awareness": 0, "Awareness": 7, "Basic": 14, "Managed": 21, "Optimized": 28}
DISASTER = {"Very Low": 0.05, "Low": 0.5, "Medium": 2, "High": 5}


def parts(v):
    """Sub-answers by position: a list, or a dict keyed "1".."n"."""
    if isinstance(v, list):
        return v
    return [v[str(i)] for i in range(1, len(v) + 1)]


def prior(question, answer):
    """Root prior (list, in the node's state order) for one answer."""
    if question in ("Storage_Medium", "Digital_Object", "Checksum"):
        p = [float(x) for x in parts(answer)]
        return [x / sum(p) for x in p]
    if question == "Technical_Skills":
        x = sum(SKILL[a] for a in parts(answer))
    elif question == "System_Security":
        a = parts(answer)
        x = ACCRED[a[0]] + PEN[a[1]] + CONTROL[a[2]] + VIRUS[a[3]]
    elif question == "Info_Management":
        a = parts(answer)
        c = parts(a[2])
        x = META[a[0]] + CONTENT[a[1]] + CAPAB[c[0]] + CAPAB[c[1]]
    elif question == "Physical_Disaster":
        x = DISASTER[answer]
    elif question == "Op_Environment":
        pct, offsite = parts(answer)
        x = 100 if pct == 100 or offsite == "Yes" else pct
    elif question == "Rep_and_Refresh":
        a, b = parts(answer)
        x = a * b / 100
    else:
        raise KeyError(question)
    return [x / 100, 1 - x / 100]


def advanced_values(model, node, table):
    """pgmpy values array (own states x parent combinations) from an `advanced` table."""
    cpd = model.get_cpds(node)
    own = cpd.state_names[node]
    parents = cpd.variables[1:]
    norm = {k.replace(" ", "_"): v for k, v in table.items()}
    if not parents:
        p = np.array([float(norm[s]) for s in own])
        return (p / p.sum()).reshape(-1, 1), parents
    cards = [len(cpd.state_names[p]) for p in parents]
    values = np.zeros((len(own), int(np.prod(cards))))
    for r in range(len(norm[own[0]])):
        col = 0
        for p, card in zip(parents, cards):
            col = col * card + cpd.state_names[p].index(norm[p][r].replace(" ", "_"))
        row = np.array([float(norm[s][r]) for s in own])
        values[:, col] = row / row.sum()
    return values, parents


def score(base, model_obj):
    model = base.copy()
    replaced = {}
    for q, answer in model_obj["response"].items():
        replaced[q] = (np.array(prior(q, answer)).reshape(-1, 1), [])
    if model_obj.get("is_advanced"):
        for key, table in model_obj["advanced"].items():
            node = key.replace(" ", "_")
            replaced[node] = advanced_values(base, node, table)
    for node, (values, parents) in replaced.items():
        old = model.get_cpds(node)
        names = {v: old.state_names[v] for v in [node] + list(parents)}
        new = TabularCPD(node, len(old.state_names[node]), values, evidence=parents or None,
                         evidence_card=[len(old.state_names[p]) for p in parents] or None,
                         state_names=names)
        model.remove_cpds(old)
        model.add_cpds(new)
    model.check_model()
    ve = VariableElimination(model)
    out = {}
    for node, key in (("Intellectual_Control", "intellectual_control"), ("Renderability", "renderability")):
        q = ve.query([node], show_progress=False)
        out[key] = 100 * float(q.get_value(**{node: "Yes"}))
    return out


def main():
    base = BIFReader(str(FIX / "diagram-like.bif")).get_model()
    ve = VariableElimination(base)
    marginals = {}
    for node in base.nodes():
        q = ve.query([node], show_progress=False)
        marginals[node] = {s: float(q.get_value(**{node: s})) for s in q.state_names[node]}
    sets = json.loads((FIX / "answer-sets.json").read_text())
    scores = {}
    for entry in sets:
        obj = entry.get("model") or json.loads((FIX / entry["model_file"]).read_text())
        scores[entry["name"]] = score(base, obj)
    result = {"generator": f"scripts/pgmpy-reference.py with pgmpy {pgmpy.__version__}",
              "network_marginals": marginals, "scores": scores}
    (FIX / "pgmpy-reference.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
