//! Quotas and budgets with an injected clock, on the real store (run when
//! `TWAKE_AI_TEST_MODELS=1`: opening a workspace loads the embedder).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use common::*;
use twake_core::engine::config::GroupQuota;
use twake_core::engine::dates::{Clock, days_from_civil};
use twake_core::policy::quota::Requester;
use twake_core::{Config, CoreError, Tenant, Workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_over_budget_is_refused_and_passes_once_the_budget_renews() {
    if !twake_testkit::models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.quotas.tokens_per_day = 1000;
    config.quotas.cost_per_month = 0.004;
    config.models.price_per_million_tokens = 2.0;
    config.quotas.groups.push(GroupQuota {
        group: "group:stagiaires".into(),
        tokens_per_day: 1500,
        cost_per_month: 0.0,
    });
    let noon = days_from_civil(2026, 11, 29) * 86_400 + 12 * 3600;
    let t = Arc::new(AtomicI64::new(noon));
    let ws = Workspace::open(dir.path(), config).await.unwrap().with_clock(Clock::Fixed(t.clone()));
    let refused = |r: Result<(), CoreError>| match r {
        Err(CoreError::Quota { message, retry_after }) => Some((message, retry_after)),
        Ok(()) => None,
        Err(e) => panic!("{e}"),
    };

    // Alice: 1000 tokens a day.
    let alice = pass(&ws, ALICE).await;
    let who = Requester { pass: &alice, key: None };
    ws.quota_record(&who, 600).await.unwrap();
    assert!(refused(ws.quota_check(&who).await).is_none());
    ws.quota_record(&who, 400).await.unwrap();
    let (msg, retry) = refused(ws.quota_check(&who).await).expect("the request over budget is refused");
    assert!(msg.contains("1000 of 1000 tokens"), "{msg}");
    assert_eq!(retry, 12 * 3600, "renews at midnight UTC");
    t.store(noon + 13 * 3600, Ordering::Relaxed); // the next day
    assert!(refused(ws.quota_check(&who).await).is_none(), "a new day, a new budget");
    ws.quota_record(&who, 1000).await.unwrap();
    t.store(noon + 2 * 86_400, Ordering::Relaxed); // 1 December: month budget renewed too
    assert!(refused(ws.quota_check(&who).await).is_none());
    ws.quota_record(&who, 600).await.unwrap();
    ws.quota_record(&who, 1000).await.unwrap();
    ws.quota_record(&who, 900).await.unwrap(); // 2500 tokens today, over the day's budget

    // The month's cost: 2500 tokens at 2 per million = 0.005 ≥ 0.004.
    t.store(noon + 3 * 86_400, Ordering::Relaxed);
    let (msg, _) = refused(ws.quota_check(&who).await).expect("monthly budget spent");
    assert!(msg.contains("Monthly budget of alice.martin@valmont.fr"), "{msg}");
    t.store(days_from_civil(2027, 1, 1) * 86_400, Ordering::Relaxed);
    assert!(refused(ws.quota_check(&who).await).is_none(), "a new month");

    // A group budget is shared by its members.
    let g = p("group:stagiaires");
    ws.add_member(&Tenant::default(), &g, &p("bob@valmont.fr")).await.unwrap();
    ws.add_member(&Tenant::default(), &g, &p("carol@valmont.fr")).await.unwrap();
    let (bob, carol) = (pass(&ws, "bob@valmont.fr").await, pass(&ws, "carol@valmont.fr").await);
    ws.quota_record(&Requester { pass: &bob, key: None }, 900).await.unwrap();
    ws.quota_record(&Requester { pass: &carol, key: None }, 700).await.unwrap();
    let (msg, _) = refused(ws.quota_check(&Requester { pass: &bob, key: None }).await).expect("group spent");
    assert!(msg.contains("group:stagiaires"), "{msg}");
    // Eve, not in the group, is not affected.
    let eve = pass(&ws, "eve@valmont.fr").await;
    assert!(refused(ws.quota_check(&Requester { pass: &eve, key: None }).await).is_none());

    // Only a user gets a key: a group signing in would match every rule
    // that names it (`auth.admins` included).
    for who in ["group:stagiaires", "room:!r:valmont.fr", "share:drive"] {
        let e = ws.create_key(&p(who), "x").await.unwrap_err().to_string();
        assert!(e.contains("is not a user"), "{who}: {e}");
    }

    // A key's own limit.
    let (id, _) = ws.create_key_with_limit(&p("eve@valmont.fr"), "bot", Some(100)).await.unwrap();
    let with_key = Requester { pass: &eve, key: Some((id, Some(100))) };
    ws.quota_record(&with_key, 100).await.unwrap();
    let (msg, _) = refused(ws.quota_check(&with_key).await).expect("key spent");
    assert!(msg.contains(&format!("key:{id}")), "{msg}");
    assert!(refused(ws.quota_check(&Requester { pass: &eve, key: None }).await).is_none(), "her other access works");

    // The usage report has every charged principal.
    let day = days_from_civil(2027, 1, 1);
    let report = ws.usage_report(day, day).await.unwrap();
    let names: Vec<&str> = report.iter().map(|(p, _)| p.as_str()).collect();
    for n in ["bob@valmont.fr", "group:stagiaires", &format!("key:{id}")] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let group = &report.iter().find(|(p, _)| p == "group:stagiaires").unwrap().1;
    assert_eq!((group.tokens, group.requests), (1600, 2));
}
