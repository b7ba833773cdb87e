//! The gateway's promise checked at the socket on generated cases: random
//! documents at random levels, random remote models with random clearances
//! (some allowed to read pseudonymised text), questions about random
//! documents. Every request body that reaches a model's HTTP endpoint is
//! recorded by `tests/recording_proxy.py` and searched for each document's
//! unique reference code and its person's name and address: a code above
//! the model's clearance may only arrive pseudonymised (no name, no
//! address) and only up to its pseudonymised clearance; a refused request
//! sends nothing. The recording server answers by itself (`stream` mode,
//! with the sentence of source [1] closest to the question): what is checked is what TwakeAI
//! *sends*, so no model has to run. Also here: remotes that answer one JSON
//! completion, or garbage, and a model context too small for the prompt.
//! Runs with the real embedder (`TWAKE_AI_TEST_MODELS=1`).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

mod common;

use common::{Kill, free_port, root, wait_for};

const LEVELS: [&str; 4] = ["public", "internal", "confidential", "secret"];
const PEOPLE: [(&str, &str); 6] = [
    ("Madeleine Ferrand", "madeleine.ferrand"),
    ("Théo Garnier", "theo.garnier"),
    ("Inès Moreau", "ines.moreau"),
    ("Hugo Lambert", "hugo.lambert"),
    ("Claire Dubois", "claire.dubois"),
    ("Samuel Petit", "samuel.petit"),
];
const TOPICS: [&str; 6] = [
    "la migration du datacenter de Nantes",
    "le budget de la cantine",
    "le recrutement des stagiaires d'été",
    "le renouvellement des licences bureautiques",
    "l'audit de sécurité du réseau wifi",
    "le déménagement du siège à Rennes",
];

#[derive(Debug, Clone)]
struct Doc {
    topic: usize,
    person: usize,
    level: usize,
    code: String,
}

#[derive(Debug, Clone)]
struct Model {
    clearance: usize,
    pseudonymised: Option<usize>,
}

#[derive(Debug, Clone)]
struct Case {
    docs: Vec<Doc>,
    models: Vec<Model>,
    /// Questions: indexes into `docs`.
    questions: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    let docs = (2usize..=4).prop_flat_map(|n| {
        (
            Just(n),
            prop::sample::subsequence((0..TOPICS.len()).collect::<Vec<_>>(), n).prop_shuffle(),
            prop::collection::vec((0..PEOPLE.len(), 0..LEVELS.len(), "[A-Z]{3}[0-9]{4}"), n),
        )
    });
    let model = (0..LEVELS.len(), prop::option::of(0..LEVELS.len()))
        .prop_map(|(clearance, pseudonymised)| Model { clearance, pseudonymised });
    (docs, prop::collection::vec(model, 1..=2), prop::collection::vec(any::<prop::sample::Index>(), 2..=3)).prop_map(
        |((n, topics, rest), models, qs)| Case {
            docs: topics
                .into_iter()
                .zip(rest)
                .map(|(topic, (person, level, code))| Doc { topic, person, level, code: format!("REF-{code}") })
                .collect(),
            models,
            questions: qs.iter().map(|i| i.index(n)).collect(),
        },
    )
}

fn twake(data: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twake-ai"))
        .current_dir(root())
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

/// A recording server in one of its modes, and the file it logs bodies to.
fn recorder(dir: &Path, label: &str, mode: &str) -> (Kill, u16, PathBuf) {
    let port = free_port();
    let log = dir.join(format!("bodies-{label}.log"));
    let mut child = Command::new("python3")
        .arg(root().join("tests/recording_proxy.py"))
        .args([port.to_string(), mode.to_string(), log.display().to_string()])
        .spawn()
        .unwrap();
    wait_for(port, &mut child);
    (Kill(child), port, log)
}

fn model_section(name: &str, port: u16, m: &Model, extra: &str) -> String {
    let pseudo = m.pseudonymised.map(|p| format!("pseudonymised_clearance = \"{}\"\n", LEVELS[p])).unwrap_or_default();
    format!(
        "\n[[gateway.models]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}/v1\"\nmodel = \"{name}-model\"\n\
         clearance = \"{}\"\n{pseudo}jurisdiction = \"US\"\ntimeout_seconds = 20\n{extra}",
        LEVELS[m.clearance]
    )
}

fn write_docs(dir: &Path, docs: &[Doc]) -> PathBuf {
    let root = dir.join("docs");
    let _ = std::fs::remove_dir_all(&root);
    for (i, d) in docs.iter().enumerate() {
        let (name, login) = PEOPLE[d.person];
        let topic = TOPICS[d.topic];
        let folder = root.join(LEVELS[d.level]);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join(format!("dossier-{i}.md")),
            format!(
                "# Dossier : {topic}\n\nLe dossier concernant {topic} est suivi par {name} ({login}@valmont.fr).\n\
                 Le code de référence du dossier concernant {topic} est {code}.\n",
                code = d.code
            ),
        )
        .unwrap();
    }
    root
}

/// Labels by folder: `docs/<level>/…` is at least that level.
fn labels() -> String {
    let mut s = String::from("[sensitivity]\ndefault = \"public\"\n");
    for l in &LEVELS[1..] {
        s.push_str(&format!("\n[[sensitivity.rules]]\nlevel = \"{l}\"\npath_contains = \"/{l}/\"\n"));
    }
    s
}

#[test]
fn no_passage_reaches_a_model_above_its_clearance_on_generated_cases() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_recorder, port, log) = recorder(dir.path(), "cases", "stream");
    let (sent, pseudonymised, refused) = (Cell::new(0), Cell::new(0), Cell::new(0));
    // A fixed seed: the same cases on every run, so the suite is
    // reproducible; a failure is shrunk to a minimal case.
    let config = Config { cases: 16, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&case(), |case| {
        let data = tempfile::tempdir_in(dir.path()).unwrap();
        let docs = write_docs(data.path(), &case.docs);
        let readers: Vec<String> = std::iter::once("alice.martin@valmont.fr".to_string())
            .chain(case.docs.iter().map(|d| format!("{}@valmont.fr", PEOPLE[d.person].1)))
            .collect();
        let mut cfg = labels();
        let names: Vec<String> = (0..case.models.len()).map(|i| format!("\"m{i}\"")).collect();
        cfg.push_str(&format!("\n[gateway]\nprefer = [{}]\n", names.join(", ")));
        for (i, m) in case.models.iter().enumerate() {
            cfg.push_str(&model_section(&format!("m{i}"), port, m, ""));
        }
        let config = data.path().join("twake-ai.toml");
        std::fs::write(&config, &cfg).unwrap();
        let store = data.path().join("store");
        let out = twake(&store, &config, &["ingest", "--readers", &readers.join(","), docs.to_str().unwrap()]);
        prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        for &q in &case.questions {
            let before = std::fs::read_to_string(&log).unwrap_or_default().len();
            let question =
                format!("Quel est le code de référence du dossier concernant {} ?", TOPICS[case.docs[q].topic]);
            let out = twake(&store, &config, &["ask", "--as", "alice.martin@valmont.fr", &question]);
            let bodies = std::fs::read_to_string(&log).unwrap_or_default()[before..].to_string();
            match out.status.code() {
                Some(0) => {}
                Some(1) => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    prop_assert!(err.contains("No model may read this request"), "{err}");
                    prop_assert!(bodies.is_empty(), "a refused request sent {bodies}");
                    refused.set(refused.get() + 1);
                }
                other => prop_assert!(false, "exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
            }
            for line in bodies.lines() {
                let body: serde_json::Value = serde_json::from_str(line).unwrap();
                let name = body["model"].as_str().unwrap().trim_end_matches("-model");
                let m = &case.models[name.trim_start_matches('m').parse::<usize>().unwrap()];
                let text: String =
                    body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
                sent.set(sent.get() + 1);
                if text.contains("[PERSONNE_") {
                    pseudonymised.set(pseudonymised.get() + 1);
                }
                for d in &case.docs {
                    if !text.contains(&d.code) || d.level <= m.clearance {
                        continue;
                    }
                    // Above its clearance: only pseudonymised, only up to that.
                    prop_assert!(
                        m.pseudonymised.is_some_and(|p| p >= d.level),
                        "{} ({}) reached {name} cleared for {} / {:?}",
                        d.code,
                        LEVELS[d.level],
                        LEVELS[m.clearance],
                        m.pseudonymised.map(|p| LEVELS[p])
                    );
                    for d2 in &case.docs {
                        let (full, login) = PEOPLE[d2.person];
                        let last = full.rsplit(' ').next().unwrap();
                        prop_assert!(
                            !text.contains(last) && !text.contains(login),
                            "{full} left unpseudonymised: {text}"
                        );
                    }
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generated cases exercise all three outcomes (a fixed seed makes
    // this deterministic); otherwise the property would hold vacuously.
    eprintln!("bodies sent: {}, pseudonymised: {}, refused: {}", sent.get(), pseudonymised.get(), refused.get());
    assert!(sent.get() > 0 && pseudonymised.get() > 0 && refused.get() > 0);
}

/// One sample store shared by the remote-behaviour checks below.
fn small_store(dir: &Path) -> (PathBuf, String) {
    let docs = vec![
        Doc { topic: 0, person: 0, level: 1, code: "REF-NTE2027".into() },
        Doc { topic: 1, person: 1, level: 1, code: "REF-CAN0042".into() },
        Doc { topic: 5, person: 2, level: 1, code: "REF-REN1999".into() },
    ];
    let folder = write_docs(dir, &docs);
    (folder, format!("Quel est le code de référence du dossier concernant {} ?", TOPICS[0]))
}

#[test]
fn remotes_that_answer_json_or_garbage_and_small_contexts() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (docs, question) = small_store(dir.path());
    let store = dir.path().join("store");
    let setup = |label: &str, mode: &str, extra: &str| -> (Kill, PathBuf, PathBuf) {
        let (child, port, log) = recorder(dir.path(), label, mode);
        let model = Model { clearance: 3, pseudonymised: None };
        let cfg = format!("[gateway]\nprefer = [\"remote\"]\n{}", model_section("remote", port, &model, extra));
        let config = dir.path().join(format!("{label}.toml"));
        std::fs::write(&config, cfg).unwrap();
        (child, config, log)
    };
    let (_json, json_cfg, json_log) = setup("json", "json", "");
    let out = twake(&store, &json_cfg, &["ingest", "--readers", "alice.martin@valmont.fr", docs.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ask = |config: &Path| twake(&store, config, &["ask", "--json", "--as", "alice.martin@valmont.fr", &question]);

    // A server that ignores `stream: true` and answers one completion.
    let out = ask(&json_cfg);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["answer"].as_str().unwrap().contains("REF-NTE2027"), "{v}");
    assert!(std::fs::read_to_string(&json_log).unwrap().contains("\"stream\":true"));

    // A 200 that is neither a stream nor a completion: a clear error, and
    // the provenance log records the failed request and what it sent.
    let (_garbage, garbage_cfg, _) = setup("garbage", "garbage", "");
    let out = ask(&garbage_cfg);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("neither an event stream nor a chat completion") && err.contains("<html>"), "{err}");
    let log: serde_json::Value =
        serde_json::from_slice(&twake(&store, &garbage_cfg, &["audit", "show", "--json"]).stdout).unwrap();
    let last = log["records"].as_array().unwrap().last().unwrap().clone();
    assert!(last["decision"].as_str().unwrap().contains("failed: remote model remote answered 200"), "{last}");
    assert_eq!(last["answered"], false, "{last}");
    assert!(!last["passages"].as_array().unwrap().is_empty(), "the passages that were sent are logged: {last}");

    // A small context: fewer passages are sent; too small for one passage:
    // an error naming the context, nothing sent.
    let (_small, small_cfg, small_log) = setup("small", "stream", "context = 450\n");
    let out = ask(&small_cfg);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body = std::fs::read_to_string(&small_log).unwrap();
    let text: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    let user = text["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("[1] ") && !user.contains("\n[2] "), "one passage fits in 450 tokens: {user}");
    assert!(text["max_tokens"].as_u64().unwrap() < 320, "the answer budget shrank to fit: {text}");
    let (_tiny, tiny_cfg, tiny_log) = setup("tiny", "stream", "context = 200\n");
    let out = ask(&tiny_cfg);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("model context holds 200"), "{err}");
    assert!(std::fs::read_to_string(&tiny_log).unwrap_or_default().is_empty(), "nothing sent");
    assert!(twake(&store, &tiny_cfg, &["audit", "verify"]).status.success());
}
