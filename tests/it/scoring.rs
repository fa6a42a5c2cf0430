//! The DiAGRAM mapping: answer rules, validation errors, advanced tables, improvements.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use reportq::bayes::Network;
use reportq::scoring::{ScoreError, Scorer};
use serde_json::{Value, json};

fn diagram() -> &'static Scorer {
    static DIAGRAM: OnceLock<Scorer> = OnceLock::new();
    DIAGRAM.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diagram-like.bif");
        Scorer::new(Arc::new(Network::load(path).unwrap())).unwrap()
    })
}

fn model() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn with_answer(question: &str, answer: Value) -> Value {
    let mut m = model();
    m["response"][question] = answer;
    m
}

fn prior(m: &Value, question: &str) -> Vec<f64> {
    let nodes = diagram().score_value(m).unwrap().nodes;
    let network = diagram().network();
    let id = network.node(question).unwrap();
    network.states(id).iter().map(|s| nodes[question][s].as_f64().unwrap()).collect()
}

fn assert_prior(question: &str, answer: Value, want: &[f64]) {
    let got = prior(&with_answer(question, answer.clone()), question);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{question} {answer}: {got:?} vs {want:?}");
    }
}

fn binary(x: f64) -> Vec<f64> {
    vec![x / 100.0, 1.0 - x / 100.0]
}

fn total(m: &Value) -> f64 {
    let s = diagram().score_value(m).unwrap();
    s.intellectual_control + s.renderability
}

// ---------------------------------------------------------------- mapping rules

#[test]
fn technical_skills_sum_ten_answers() {
    let answers = ["Basic", "Intermediate", "Advanced", "None", "Basic", "Basic", "Intermediate", "None", "Advanced", "Basic"];
    assert_prior("Technical_Skills", json!(answers), &binary(3.0 + 6.0 + 10.0 + 0.0 + 3.0 + 3.0 + 6.0 + 0.0 + 10.0 + 3.0));
    // Keyed "1".."10": taken by position, not by the keys' text order.
    let keyed: serde_json::Map<String, Value> = answers.iter().enumerate().map(|(i, a)| ((i + 1).to_string(), json!(a))).collect();
    assert_prior("Technical_Skills", Value::Object(keyed), &binary(44.0));
    assert_prior("Technical_Skills", json!(vec!["Advanced"; 10]), &binary(100.0));
}

#[test]
fn system_security_sums_four_parts() {
    let cases = [
        (json!({"1": "No", "2": "No test", "3": "Not achieved", "4": "No"}), 0.0),
        (json!({"1": "Cyber Essentials", "2": "Critical issues outstanding", "3": "Level 1", "4": "No"}), 17.0),
        (json!({"1": "Cyber Essentials Plus", "2": "Severe issues outstanding", "3": "Level 3", "4": "Yes"}), 62.0),
        (json!({"1": "ISO 27001", "2": "None, or only minor issues outstanding", "3": "Level 2", "4": "Yes"}), 94.0),
        (json!({"1": "ISO 27001", "2": "None, or only minor issues outstanding", "3": "Level 4", "4": "Yes"}), 100.0),
    ];
    for (answer, x) in cases {
        assert_prior("System_Security", answer, &binary(x));
    }
}

#[test]
fn info_management_sums_levels_and_capabilities() {
    let cases = [
        (json!({"1": "Level 3", "2": "Level 1", "3": ["Managed", "Awareness"]}), 21.0 + 8.0 + 21.0 + 7.0),
        (json!({"1": "Level 1", "2": "Level 2", "3": ["Basic", "Optimized"]}), 7.0 + 16.0 + 14.0 + 28.0),
        (json!({"1": "Level 4", "2": "Level 3", "3": ["Minimal awareness", "Basic"]}), 28.0 + 16.0 + 0.0 + 14.0),
        (json!({"1": "Not achieved", "2": "Level 4", "3": ["Optimized", "Optimized"]}), 16.0 + 56.0),
    ];
    for (answer, x) in cases {
        assert_prior("Info_Management", answer, &binary(x));
    }
}

#[test]
fn physical_disaster_levels_are_the_probability_of_yes() {
    for (answer, x) in [("Very Low", 0.05), ("Low", 0.5), ("Medium", 2.0), ("High", 5.0)] {
        assert_prior("Physical_Disaster", json!(answer), &binary(x));
    }
}

#[test]
fn op_environment_is_full_when_complete_or_yes() {
    assert_prior("Op_Environment", json!({"1": 60, "2": "No"}), &binary(60.0));
    assert_prior("Op_Environment", json!({"1": 60, "2": "Not Applicable - we have copies offsite"}), &binary(60.0));
    assert_prior("Op_Environment", json!({"1": 60, "2": "Yes"}), &binary(100.0));
    assert_prior("Op_Environment", json!({"1": 100, "2": "No"}), &binary(100.0));
    assert_prior("Op_Environment", json!([12.5, "No"]), &binary(12.5));
}

#[test]
fn rep_and_refresh_multiplies() {
    assert_prior("Rep_and_Refresh", json!({"1": 80, "2": 50}), &binary(40.0));
    assert_prior("Rep_and_Refresh", json!({"1": 37.5, "2": 81.25}), &binary(37.5 * 81.25 / 100.0));
}

#[test]
fn triples_become_the_prior() {
    assert_prior("Storage_Medium", json!([30, 50, 20]), &[0.3, 0.5, 0.2]);
    assert_prior("Digital_Object", json!([0, 0, 100]), &[0.0, 0.0, 1.0]);
    assert_prior("Checksum", json!([12.5, 62.5, 25]), &[0.125, 0.625, 0.25]);
    // Rounded thirds are accepted and renormalised.
    assert_prior("Checksum", json!([33, 33, 33]), &[1.0 / 3.0; 3]);
}

#[test]
fn missing_questions_keep_the_file_prior_and_request_scores_are_ignored() {
    let mut m = model();
    m["response"].as_object_mut().unwrap().remove("Checksum");
    // A plain model answers every question (the one rule every route keeps); an advanced one
    // may leave questions to the network's own priors.
    assert_eq!(diagram().score_value(&m).unwrap_err().field, "response.Checksum");
    m["is_advanced"] = json!(true);
    m["advanced"] = json!({});
    assert_eq!(prior(&m, "Checksum"), vec![0.5, 0.2, 0.3]);
    let before = diagram().score_value(&m).unwrap();
    m["intellectual_control"] = json!(99);
    m["renderability"] = json!(1);
    assert_eq!(diagram().score_value(&m).unwrap(), before);
    // An array holding exactly one model is the same request.
    assert_eq!(diagram().score_value(&json!([m])).unwrap(), before);
}

#[test]
fn nodes_have_all_tables_in_advanced_shape() {
    let score = diagram().score_value(&model()).unwrap();
    assert_eq!(score.nodes.len(), 21);
    assert_eq!(score.nodes["Technical_Skills"].len(), 2);
    let tech = &score.nodes["Tech_Metadata"];
    assert_eq!(tech["Technical_Skills"], json!(["Good", "Poor"]));
    assert_eq!(tech["Sufficient"].as_array().unwrap().len(), 2);
    let life = &score.nodes["Storage_Life"];
    assert_eq!(life.len(), 6);
    assert_eq!(life["Storage_Medium"].as_array().unwrap().len(), 24);
    // On the wire the keys keep the network's order (DiAGRAM's editor lays columns out in key
    // order): a node's parents before its own states, and the nodes as the network lists them.
    let text = serde_json::to_string(&score.nodes["Tech_Metadata"]).unwrap();
    let (parent, state) = (text.find("\"Technical_Skills\"").unwrap(), text.find("\"Sufficient\"").unwrap());
    assert!(parent < state, "parent column after the states: {text}");
    let net = diagram().network();
    assert_eq!(score.nodes.keys().collect::<Vec<_>>(), net.node_ids().map(|id| net.node_name(id)).collect::<Vec<_>>());
    // Feeding `nodes` back as `advanced` changes nothing.
    let mut m = model();
    m["is_advanced"] = json!(true);
    m["advanced"] = serde_json::to_value(&score.nodes).unwrap();
    let again = diagram().score_value(&m).unwrap();
    assert!((again.intellectual_control - score.intellectual_control).abs() < 1e-12);
    assert!((again.renderability - score.renderability).abs() < 1e-12);
    // The wire format rounds to 4 decimals.
    let r = score.rounded(4);
    assert_eq!(r.intellectual_control, (score.intellectual_control * 1e4).round() / 1e4);
    assert_eq!(r.nodes["Technical_Skills"]["Good"], json!(0.44));
    // The API's path (tables the model leaves alone come rounded from a cache) gives the same,
    // for a model with only answers and for one whose advanced tables replace some nodes.
    let parsed = reportq::domain::diagram::Model::parse_one(&model()).unwrap();
    assert_eq!(diagram().score_rounded(&parsed, 4).unwrap(), r);
    let mut tweaked = score.nodes.clone();
    let tech = tweaked.0.iter_mut().find(|(k, _)| k == "Tech_Metadata").unwrap();
    let mut table = serde_json::to_value(&tech.1).unwrap();
    table["Sufficient"] = json!([0.123456789, 0.5]);
    table["Insufficient"] = json!([0.876543211, 0.5]);
    m["advanced"] = json!({"Tech_Metadata": table});
    let parsed = reportq::domain::diagram::Model::parse_one(&m).unwrap();
    let (exact, rounded) = (diagram().score(&parsed).unwrap(), diagram().score_rounded(&parsed, 4).unwrap());
    assert_eq!(rounded, exact.rounded(4));
    assert_eq!(rounded.nodes["Tech_Metadata"]["Sufficient"], json!([0.1235, 0.5]));
    assert_eq!(exact.nodes["Tech_Metadata"]["Sufficient"], json!([0.123456789, 0.5]));
    assert_eq!(diagram().score_rounded(&parsed, 2).unwrap(), exact.rounded(2));
}

// ---------------------------------------------------------------- validation errors

fn error_of(m: &Value) -> ScoreError {
    diagram().score_value(m).expect_err("should be refused")
}

fn assert_error(m: &Value, field: &str, needle: &str) {
    let e = error_of(m);
    assert_eq!(e.model, m["model_name"].as_str().unwrap_or(""), "{e}");
    assert_eq!(e.scenario, m["scenario"].as_str().unwrap_or(""), "{e}");
    assert_eq!(e.field, field, "{e}");
    assert!(e.message.contains(needle), "{e} should mention {needle}");
    let text = e.to_string();
    assert!(text.contains("County Record Office") || e.model.is_empty(), "{text}");
}

#[test]
fn response_errors_name_model_scenario_and_key() {
    assert_error(&with_answer("Foo", json!(1)), "response.Foo", "unknown question");
    assert_error(&with_answer("Technical_Skills", json!(vec!["Basic"; 9])), "response.Technical_Skills", "must hold 10 parts");
    let mut skills = vec!["Basic"; 10];
    skills[2] = "Expert";
    assert_error(&with_answer("Technical_Skills", json!(skills)), "response.Technical_Skills[2]", "\"Advanced\"");
    assert_error(
        &with_answer("System_Security", json!({"1": "No", "2": "No test", "3": "Level 5", "4": "No"})),
        "response.System_Security.3",
        "Level 5",
    );
    assert_error(
        &with_answer("System_Security", json!({"1": "No", "2": "No test", "3": "Level 1", "5": "No"})),
        "response.System_Security",
        "part \"4\" is missing",
    );
    assert_error(
        &with_answer("Info_Management", json!({"1": "Level 1", "2": "Level 1", "3": ["Basic"]})),
        "response.Info_Management.3",
        "must hold 2 parts",
    );
    assert_error(
        &with_answer("Info_Management", json!({"1": "Level 1", "2": "Level 1", "3": ["Basic", "Expert"]})),
        "response.Info_Management.3[1]",
        "Optimized",
    );
    assert_error(&with_answer("Op_Environment", json!({"1": 120, "2": "No"})), "response.Op_Environment.1", "0 to 100");
    assert_error(&with_answer("Op_Environment", json!({"1": 20, "2": "Maybe"})), "response.Op_Environment.2", "Not Applicable");
    assert_error(&with_answer("Rep_and_Refresh", json!({"1": 20, "2": "50"})), "response.Rep_and_Refresh.2", "percentage");
    assert_error(&with_answer("Physical_Disaster", json!("Extreme")), "response.Physical_Disaster", "Very Low");
    assert_error(&with_answer("Checksum", json!([40, 40, 10])), "response.Checksum", "sum to 90");
    assert_error(&with_answer("Checksum", json!([-10, 60, 50])), "response.Checksum[0]", "0 to 100");
    assert_error(&with_answer("Digital_Object", json!({"a": 1})), "response.Digital_Object", "must hold 3 parts");
}

#[test]
fn model_level_errors_name_the_key() {
    let mut m = model();
    m.as_object_mut().unwrap().remove("model_name");
    assert_error(&m, "model_name", "string");
    let mut m = model();
    m["response"] = json!([]);
    assert_error(&m, "response", "object");
    let mut m = model();
    m["is_advanced"] = json!("yes");
    assert_error(&m, "is_advanced", "true or false");
    let mut m = model();
    m["is_advanced"] = json!(true);
    m.as_object_mut().unwrap().remove("advanced");
    assert_error(&m, "advanced", "object");
    let e = error_of(&json!([model(), model()]));
    assert!(e.message.contains("array of 2"), "{e}");
    let e = error_of(&json!("text"));
    assert!(e.message.contains("model object"), "{e}");
}

// ---------------------------------------------------------------- advanced tables

fn advanced(tables: Value) -> Value {
    let mut m = model();
    m["is_advanced"] = json!(true);
    m["advanced"] = tables;
    m
}

#[test]
fn advanced_names_with_spaces_are_underscores() {
    let m = advanced(json!({"Digital Object": {"Born digital": 0.2, "Digitised": 0.5, "Surrogate": 0.3}}));
    assert_eq!(prior(&m, "Digital_Object"), vec![0.2, 0.5, 0.3]);
}

#[test]
fn advanced_rows_are_matched_by_name() {
    let in_order = advanced(json!({"Tech_Metadata": {
        "Technical_Skills": ["Good", "Poor"], "Sufficient": [0.77, 0.43], "Insufficient": [0.23, 0.57]}}));
    let reordered = advanced(json!({"Tech_Metadata": {
        "Insufficient": [0.57, 0.23], "Technical_Skills": ["Poor", "Good"], "Sufficient": [0.43, 0.77]}}));
    let a = diagram().score_value(&in_order).unwrap();
    assert_eq!(a, diagram().score_value(&reordered).unwrap());
    assert_eq!(a.nodes["Tech_Metadata"]["Sufficient"], json!([0.77, 0.43]));
    assert_ne!(a.renderability, diagram().score_value(&model()).unwrap().renderability);
    // Two parents, rows shuffled.
    let m = advanced(json!({"Intellectual_Control": {
        "Identity": ["No", "Yes", "No", "Yes"], "Conditions_of_Use": ["No", "Yes", "Yes", "No"],
        "Yes": [0.1, 0.9, 0.35, 0.6], "No": [0.9, 0.1, 0.65, 0.4]}}));
    let nodes = diagram().score_value(&m).unwrap().nodes;
    // Our rows: first parent (Conditions_of_Use) slowest: (Yes,Yes) (Yes,No) (No,Yes) (No,No).
    assert_eq!(nodes["Intellectual_Control"]["Yes"], json!([0.9, 0.35, 0.6, 0.1]));
}

#[test]
fn advanced_sums_within_a_hundredth_are_renormalised() {
    let m = advanced(json!({"Technical_Skills": {"Good": 0.153, "Poor": 0.85}}));
    let got = prior(&m, "Technical_Skills");
    assert!((got[0] - 0.153 / 1.003).abs() < 1e-15 && (got[1] - 0.85 / 1.003).abs() < 1e-15, "{got:?}");
    let m = advanced(json!({"Tech_Metadata": {
        "Technical_Skills": ["Good", "Poor"], "Sufficient": [0.77, 0.43], "Insufficient": [0.23, 0.565]}}));
    let t = &diagram().score_value(&m).unwrap().nodes["Tech_Metadata"];
    assert!((t["Sufficient"][1].as_f64().unwrap() - 0.43 / 0.995).abs() < 1e-15);
}

#[test]
fn advanced_errors_name_the_node() {
    let m = advanced(json!({"Technical_Skills": {"Good": 0.2, "Poor": 0.85}}));
    assert_error(&m, "advanced.Technical_Skills", "sums to 1.05");
    assert!(error_of(&m).to_string().contains("Technical_Skills"));
    let m = advanced(json!({"Tech_Metadata": {
        "Technical_Skills": ["Good", "Poor"], "Sufficient": [0.77, 0.43], "Insufficient": [0.23, 0.5]}}));
    assert_error(&m, "advanced.Tech_Metadata", "row (Poor) of `Tech_Metadata` sums to 0.93");
    assert_error(&advanced(json!({"Foo": {"Yes": 1}})), "advanced.Foo", "not a node");
    assert_error(
        &advanced(json!({"Tech_Metadata": {"Technical_Skills": ["Good", "Bad"], "Sufficient": [0.7, 0.4], "Insufficient": [0.3, 0.6]}})),
        "advanced.Tech_Metadata",
        "`Bad` is not a state of `Technical_Skills`",
    );
    assert_error(
        &advanced(json!({"Tech_Metadata": {"Technical_Skills": ["Good"], "Sufficient": [0.7], "Insufficient": [0.3]}})),
        "advanced.Tech_Metadata",
        "missing 1 row",
    );
    assert_error(
        &advanced(json!({"Tech_Metadata": {"Technical_Skills": ["Good", "Good"], "Sufficient": [0.7, 0.4], "Insufficient": [0.3, 0.6]}})),
        "advanced.Tech_Metadata",
        "row (Good) is given twice",
    );
    assert_error(
        &advanced(json!({"Tech_Metadata": {"Technical_Skills": ["Good", "Poor"], "Sufficient": [0.7, 0.4]}})),
        "advanced.Tech_Metadata",
        "missing column `Insufficient`",
    );
    assert_error(&advanced(json!({"Technical_Skills": {"Good": 0.2, "Poor": 0.8, "Fair": 0.0}})), "advanced.Technical_Skills", "`Fair` is neither");
}

#[test]
fn advanced_wins_over_response_and_is_ignored_unless_advanced() {
    let m = advanced(json!({"Technical_Skills": {"Good": 0.15, "Poor": 0.85}}));
    assert_eq!(prior(&m, "Technical_Skills"), vec![0.15, 0.85]);
    let mut m = m;
    m["is_advanced"] = json!(false);
    assert_eq!(prior(&m, "Technical_Skills"), binary(44.0));
}

// ---------------------------------------------------------------- improvements

/// Every answer we can think of for a question (grids for the percentages).
fn alternatives(question: &str) -> Vec<Value> {
    const SKILL: [&str; 4] = ["None", "Basic", "Intermediate", "Advanced"];
    const LEVELS: [&str; 5] = ["Not achieved", "Level 1", "Level 2", "Level 3", "Level 4"];
    const CAPABILITY: [&str; 5] = ["Minimal awareness", "Awareness", "Basic", "Managed", "Optimized"];
    let grid = || (0..=10).map(|i| f64::from(i) * 10.0);
    match question {
        "Technical_Skills" => {
            let mut out = Vec::new();
            for a in 0..=10usize {
                for b in 0..=10 - a {
                    for c in 0..=10 - a - b {
                        let d = 10 - a - b - c;
                        let mut v = vec![SKILL[0]; a];
                        v.extend(vec![SKILL[1]; b]);
                        v.extend(vec![SKILL[2]; c]);
                        v.extend(vec![SKILL[3]; d]);
                        out.push(json!(v));
                    }
                }
            }
            out
        }
        "System_Security" => {
            let mut out = Vec::new();
            for a in ["No", "Cyber Essentials", "Cyber Essentials Plus", "ISO 27001"] {
                for b in ["No test", "Critical issues outstanding", "Severe issues outstanding", "None, or only minor issues outstanding"] {
                    for c in LEVELS {
                        for d in ["No", "Yes"] {
                            out.push(json!({"1": a, "2": b, "3": c, "4": d}));
                        }
                    }
                }
            }
            out
        }
        "Info_Management" => {
            let mut out = Vec::new();
            for a in LEVELS {
                for b in LEVELS {
                    for c in CAPABILITY {
                        for d in CAPABILITY {
                            out.push(json!({"1": a, "2": b, "3": [c, d]}));
                        }
                    }
                }
            }
            out
        }
        "Physical_Disaster" => ["Very Low", "Low", "Medium", "High"].iter().map(|a| json!(a)).collect(),
        "Op_Environment" => grid().flat_map(|p| ["Yes", "No", "Not Applicable - we have copies offsite"].map(|o| json!({"1": p, "2": o}))).collect(),
        "Rep_and_Refresh" => grid().flat_map(|a| grid().map(move |b| json!({"1": a, "2": b}))).collect(),
        _ => grid().flat_map(|a| grid().filter(move |b| a + b <= 100.0).map(move |b| json!([a, b, 100.0 - a - b]))).collect(),
    }
}

#[test]
fn improvements_are_the_best_single_changes_ranked() {
    let base = model();
    let base_score = diagram().score_value(&base).unwrap();
    let improvements = diagram().improvements_value(&base).unwrap();
    assert_eq!(improvements.len(), 9);
    for pair in improvements.windows(2) {
        assert!(pair[0].total_gain() >= pair[1].total_gain());
    }
    let mut best_overall = f64::NEG_INFINITY;
    for imp in &improvements {
        // Its reported scores are what scoring the suggested answer gives.
        let suggested = diagram().score_value(&with_answer(imp.question().key(), imp.answer.to_json())).unwrap();
        assert!((suggested.intellectual_control - imp.intellectual_control).abs() < 1e-9);
        assert!((suggested.renderability - imp.renderability).abs() < 1e-9);
        assert!((imp.gain_intellectual_control - (imp.intellectual_control - base_score.intellectual_control)).abs() < 1e-9);
        // And no other answer to that question does better.
        let alternatives = alternatives(imp.question().key());
        assert!(alternatives.len() >= 4);
        for answer in alternatives {
            let t = total(&with_answer(imp.question().key(), answer.clone()));
            assert!(t <= imp.intellectual_control + imp.renderability + 1e-9, "{:?}: {answer} scores {t}, better than {imp:?}", imp.question());
            best_overall = best_overall.max(t);
        }
    }
    // The top of the ranking is the best single change of all.
    let top = &improvements[0];
    assert!((top.intellectual_control + top.renderability - best_overall).abs() < 1e-9);
    assert!(top.total_gain() > 0.0);
}

#[test]
fn improvements_skip_questions_replaced_by_advanced_tables() {
    let m = advanced(json!({"Technical_Skills": {"Good": 0.15, "Poor": 0.85}}));
    let improvements = diagram().improvements_value(&m).unwrap();
    assert_eq!(improvements.len(), 8);
    assert!(improvements.iter().all(|i| i.question().key() != "Technical_Skills"));
    // An already-best answer gains nothing.
    let best = with_answer("Checksum", json!([100, 0, 0]));
    let imp = diagram().improvements_value(&best).unwrap();
    let checksum = imp.iter().find(|i| i.question().key() == "Checksum").unwrap();
    assert_eq!(checksum.answer.to_json(), json!([100, 0, 0]));
    assert_eq!(checksum.total_gain(), 0.0);
}
