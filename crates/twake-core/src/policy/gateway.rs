//! The model gateway: which model may read a request, decided per passage
//! sensitivity, failing closed. (How a remote model is called is
//! `crate::engine::remote`.)
//!
//! A request's level is the highest level among the passages it would
//! send. It goes to the first model of `gateway.prefer` whose clearance
//! covers that level; else to the first one whose clearance *after
//! pseudonymisation* covers it (the prompt is pseudonymised, the answer
//! restored); else it is refused, naming the passage that blocked it.

use twake_types::Sensitivity;

use crate::engine::config::GatewayConfig;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Embedded,
    /// Index into `gateway.models`.
    Remote(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub target: Target,
    pub pseudonymise: bool,
    pub level: Sensitivity,
    /// The decision in words, for the provenance log.
    pub decision: String,
}

/// A candidate model as the router sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub target: Target,
    pub name: String,
    pub clearance: Sensitivity,
    pub pseudonymised: Option<Sensitivity>,
}

/// Decides where a request whose passages have these `(description,
/// level)` goes. Pure; `Err` is the refusal, in words.
pub fn route(passages: &[(String, Sensitivity)], candidates: &[Candidate]) -> std::result::Result<Route, String> {
    routes(passages, candidates).map(|mut r| r.remove(0))
}

/// Every allowed route, best first (the fallbacks when a model fails):
/// the models cleared for the request's level in preference order, then
/// those allowed to read it pseudonymised. Never empty when `Ok`.
pub fn routes(passages: &[(String, Sensitivity)], candidates: &[Candidate]) -> std::result::Result<Vec<Route>, String> {
    let level = passages.iter().map(|p| p.1).max().unwrap_or(Sensitivity::Public);
    let mut out: Vec<Route> = candidates
        .iter()
        .filter(|c| c.clearance >= level)
        .map(|c| Route {
            target: c.target.clone(),
            pseudonymise: false,
            level,
            decision: format!("request level {level}: sent to {} (cleared for {})", c.name, c.clearance),
        })
        .collect();
    out.extend(candidates.iter().filter(|c| c.clearance < level && c.pseudonymised.is_some_and(|p| p >= level)).map(
        |c| Route {
            target: c.target.clone(),
            pseudonymise: true,
            level,
            decision: format!(
                "request level {level}: above {}'s clearance ({}), sent pseudonymised (allowed up to {})",
                c.name,
                c.clearance,
                c.pseudonymised.map(|p| p.to_string()).unwrap_or_default()
            ),
        },
    ));
    if !out.is_empty() {
        return Ok(out);
    }
    let blocking = passages.iter().filter(|p| p.1 == level).map(|p| p.0.as_str()).collect::<Vec<_>>().join(", ");
    let allowed = candidates
        .iter()
        .map(|c| match c.pseudonymised {
            Some(p) => format!("{} up to {} ({} pseudonymised)", c.name, c.clearance, p),
            None => format!("{} up to {}", c.name, c.clearance),
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(format!(
        "No model may read this request: {blocking} is {level}, above every allowed model ({}). Ask an administrator to allow a model cleared for {level}.",
        if allowed.is_empty() { "none configured".to_string() } else { allowed }
    ))
}

impl GatewayConfig {
    /// The candidates in preference order; a misspelt model name or level
    /// is a configuration error (never a silent fallback).
    pub fn candidates(&self) -> std::result::Result<Vec<Candidate>, String> {
        let level = |what: &str, s: &str| {
            Sensitivity::parse(s)
                .ok_or_else(|| format!("{what}: unknown level {s:?} (public, internal, confidential or secret)"))
        };
        let mut out = Vec::new();
        for name in &self.prefer {
            if name == "embedded" {
                out.push(Candidate {
                    target: Target::Embedded,
                    name: "embedded".into(),
                    clearance: level("gateway.embedded_clearance", &self.embedded_clearance)?,
                    pseudonymised: None,
                });
                continue;
            }
            let (i, m) = self
                .models
                .iter()
                .enumerate()
                .find(|(_, m)| &m.name == name)
                .ok_or_else(|| format!("gateway.prefer names {name:?}, which no [[gateway.models]] defines"))?;
            out.push(Candidate {
                target: Target::Remote(i),
                name: m.name.clone(),
                clearance: level(&format!("gateway.models {}: clearance", m.name), &m.clearance)?,
                pseudonymised: m
                    .pseudonymised_clearance
                    .as_deref()
                    .map(|p| level(&format!("gateway.models {}: pseudonymised_clearance", m.name), p))
                    .transpose()?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Sensitivity::*;
    use proptest::prelude::*;

    fn cand(name: &str, clearance: Sensitivity, pseudonymised: Option<Sensitivity>, i: usize) -> Candidate {
        Candidate { target: Target::Remote(i), name: name.into(), clearance, pseudonymised }
    }

    #[test]
    fn routes_in_preference_order_then_pseudonymised_then_refuses() {
        let cs = vec![cand("cloud", Internal, Some(Confidential), 0), cand("eu", Public, None, 1)];
        let p = |l| vec![("a.md".to_string(), l)];
        let r = route(&p(Internal), &cs).unwrap();
        assert_eq!((r.target, r.pseudonymise), (Target::Remote(0), false));
        let r = route(&p(Confidential), &cs).unwrap();
        assert_eq!((r.target, r.pseudonymise), (Target::Remote(0), true));
        let e = route(&[("rh/bob.md".into(), Secret), ("a.md".into(), Internal)], &cs).unwrap_err();
        assert!(e.contains("rh/bob.md is secret") && !e.contains("a.md is"), "{e}");
        assert!(route(&p(Public), &[]).is_err(), "no model configured: refused");
    }

    #[test]
    fn unknown_levels_and_model_names_are_configuration_errors() {
        let mut g = GatewayConfig { prefer: vec!["cloud".into()], ..Default::default() };
        assert!(g.candidates().unwrap_err().contains("no [[gateway.models]]"));
        g.embedded_clearance = "top".into();
        g.prefer = vec!["embedded".into()];
        assert!(g.candidates().is_err());
    }

    fn level() -> impl Strategy<Value = Sensitivity> {
        prop::sample::select(Sensitivity::ALL.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
        /// Whatever the models and passages, a passage never goes to a model
        /// whose (pseudonymised, when used) clearance is below it, and a
        /// refusal happens only when no model could take it.
        #[test]
        fn no_passage_above_a_models_clearance_is_routed_to_it(
            passages in prop::collection::vec(level(), 0..6),
            models in prop::collection::vec((level(), prop::option::of(level())), 0..4),
        ) {
            let cs: Vec<Candidate> = models.iter().enumerate().map(|(i, (c, p))| cand(&format!("m{i}"), *c, *p, i)).collect();
            let ps: Vec<(String, Sensitivity)> = passages.iter().enumerate().map(|(i, l)| (format!("p{i}"), *l)).collect();
            let top = passages.iter().copied().max().unwrap_or(Public);
            match route(&ps, &cs) {
                Ok(r) => {
                    let Target::Remote(i) = r.target else { unreachable!() };
                    let c = &cs[i];
                    let allowed = if r.pseudonymise { c.pseudonymised.unwrap_or(Public) } else { c.clearance };
                    prop_assert!(passages.iter().all(|l| *l <= allowed));
                    if r.pseudonymise {
                        prop_assert!(cs.iter().all(|c| c.clearance < top), "pseudonymised although a model was cleared");
                    }
                }
                Err(_) => prop_assert!(cs.iter().all(|c| c.clearance < top && c.pseudonymised.is_none_or(|p| p < top))),
            }
        }
    }
}
