//! Scores of the invented DiAGRAM-shaped network against pgmpy (scripts/pgmpy-reference.py).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reportq::bayes::Network;
use reportq::scoring::Scorer;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn read_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

#[test]
fn network_marginals_match_pgmpy() {
    let network = Network::load(fixture("diagram-like.bif")).unwrap();
    let reference = read_json("pgmpy-reference.json");
    let marginals = reference["network_marginals"].as_object().unwrap();
    assert_eq!(marginals.len(), 21);
    for (node, expected) in marginals {
        let id = network.node(node).unwrap();
        let got = network.marginal(id);
        for (state, p) in expected.as_object().unwrap() {
            let k = network.state_index(id, state).unwrap();
            assert!((got[k] - p.as_f64().unwrap()).abs() < 1e-12, "{node}={state}: {} vs {p}", got[k]);
        }
    }
}

#[test]
fn scores_match_pgmpy() {
    let diagram = Scorer::new(Arc::new(Network::load(fixture("diagram-like.bif")).unwrap())).unwrap();
    let reference = read_json("pgmpy-reference.json");
    let sets = read_json("answer-sets.json");
    let sets = sets.as_array().unwrap();
    assert!(sets.len() >= 5);
    for set in sets {
        let name = set["name"].as_str().unwrap();
        let model = match set.get("model") {
            Some(model) => model.clone(),
            None => read_json(set["model_file"].as_str().unwrap()),
        };
        let score = diagram.score_value(&model).unwrap();
        let expected = &reference["scores"][name];
        for (key, got) in [("intellectual_control", score.intellectual_control), ("renderability", score.renderability)] {
            let want = expected[key].as_f64().unwrap();
            assert!((got - want).abs() < 1e-9, "{name} {key}: {got} vs pgmpy {want}");
        }
    }
}
