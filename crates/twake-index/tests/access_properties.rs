//! Property tests of the access filter: random tenants, users, nested
//! groups, documents and readers. For every user and query, every result is
//! readable by the user (checked against a reference computed here, not by
//! the code under test), and the ranking equals the ranking of the
//! readable subset alone: the filter is applied before ranking.

use std::collections::BTreeSet;

use proptest::prelude::*;
use twake_index::{AccessPass, ChunkAccess, Directory, FlatIndex, Principal, TantivyIndex, Tenant, quantize};

const USERS: [&str; 6] = ["u0@a.fr", "u1@a.fr", "u2@a.fr", "u3@b.fr", "u4@b.fr", "u5@a.fr"];
const CONTAINERS: [&str; 4] = ["group:g0", "group:g1", "room:r2", "share:s3"];
const TENANTS: [&str; 2] = ["default", "b"];
const WORDS: [&str; 10] =
    ["budget", "lyon", "migration", "salaire", "prime", "planning", "réseau", "contrat", "audit", "projet"];
const DIM: usize = 8;

/// Principal `i`: users first, then containers.
fn principal(i: usize) -> &'static str {
    if i < USERS.len() { USERS[i] } else { CONTAINERS[i - USERS.len()] }
}

#[derive(Debug, Clone)]
struct Doc {
    tenant: usize,
    readers: Vec<usize>,
    vector: Vec<f32>,
    words: Vec<usize>,
}

#[derive(Debug, Clone)]
struct World {
    /// (tenant, container index, member principal index)
    memberships: Vec<(usize, usize, usize)>,
    docs: Vec<Doc>,
    queries: Vec<(Vec<f32>, Vec<usize>)>,
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.into_iter().map(|x| x / n).collect()
}

fn world() -> impl Strategy<Value = World> {
    let n = USERS.len() + CONTAINERS.len();
    let vector = prop::collection::vec(-1.0f32..1.0, DIM).prop_map(unit);
    let doc = (
        0..TENANTS.len(),
        prop::collection::vec(0..n, 0..4),
        vector.clone(),
        prop::collection::vec(0..WORDS.len(), 1..6),
    )
        .prop_map(|(tenant, readers, vector, words)| Doc { tenant, readers, vector, words });
    (
        prop::collection::vec((0..TENANTS.len(), 0..CONTAINERS.len(), 0..n), 0..14),
        prop::collection::vec(doc, 1..40),
        prop::collection::vec((vector, prop::collection::vec(0..WORDS.len(), 1..3)), 1..4),
    )
        .prop_map(|(memberships, docs, queries)| World { memberships, docs, queries })
}

fn tenant_of(user: &str) -> usize {
    if user.ends_with("@b.fr") { 1 } else { 0 }
}

/// Reference semantics, computed naively: the principals a user acts as
/// are the fixpoint of "member of" over the edges of their tenant.
fn acts_as(w: &World, user: usize) -> BTreeSet<&'static str> {
    let t = tenant_of(USERS[user]);
    let mut set = BTreeSet::from([USERS[user]]);
    loop {
        let before = set.len();
        for &(tenant, c, m) in &w.memberships {
            if tenant == t && set.contains(principal(m)) {
                set.insert(CONTAINERS[c]);
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

fn readable(w: &World, user: usize, d: &Doc) -> bool {
    let set = acts_as(w, user);
    d.tenant == tenant_of(USERS[user]) && d.readers.iter().any(|&r| set.contains(principal(r)))
}

fn directory(w: &World) -> Directory {
    let mut dir = Directory::default();
    dir.add_domain("b.fr", Tenant::parse("b").unwrap());
    for &(t, c, m) in &w.memberships {
        let tenant = Tenant::parse(TENANTS[t]).unwrap();
        // A container that contains itself is refused by the admin
        // commands; the directory must cope with any other edge.
        if principal(m) != CONTAINERS[c] {
            dir.add_membership(
                &tenant,
                Principal::parse(CONTAINERS[c]).unwrap(),
                Principal::parse(principal(m)).unwrap(),
            );
        }
    }
    dir
}

fn readers_of(d: &Doc) -> Vec<String> {
    d.readers.iter().map(|&r| principal(r).to_string()).collect()
}

fn text_of(words: &[usize]) -> String {
    words.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" ")
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("twake-prop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn dense_results_are_readable_and_rank_like_the_readable_subset(w in world()) {
        let dir = directory(&w);
        let mut all = FlatIndex::new(DIM);
        let quantized: Vec<(f32, Vec<i8>)> = w.docs.iter().map(|d| quantize(&d.vector)).collect();
        for (i, d) in w.docs.iter().enumerate() {
            let r = readers_of(d);
            let at = ChunkAccess { chunk_id: i as i64, doc_id: i as i64, tenant: TENANTS[d.tenant], readers: &r };
            all.insert(at, quantized[i].0, &quantized[i].1).unwrap();
        }
        for (u, name) in USERS.iter().enumerate() {
            let pass = AccessPass::for_user(&dir, Principal::parse(name).unwrap());
            // The readable subset alone, searched without any filter.
            let mut subset = FlatIndex::new(DIM);
            for (i, _) in w.docs.iter().enumerate().filter(|(_, d)| readable(&w, u, d)) {
                let at = ChunkAccess { chunk_id: i as i64, doc_id: i as i64, tenant: "x", readers: &[] };
                subset.insert(at, quantized[i].0, &quantized[i].1).unwrap();
            }
            for (q, _) in &w.queries {
                let got = all.search(q, &pass, 5).unwrap();
                for (id, _) in &got {
                    prop_assert!(readable(&w, u, &w.docs[*id as usize]), "{name} got unreadable doc {id}");
                }
                let want = subset.search(q, &AccessPass::system("test reference"), 5).unwrap();
                let scores = |v: &[(i64, f32)]| v.iter().map(|x| x.1).collect::<Vec<_>>();
                prop_assert_eq!(scores(&got), scores(&want), "{} ranking differs from the readable subset's", name);
            }
        }
    }

    #[test]
    fn lexical_results_are_readable_and_rank_like_the_readable_subset(w in world()) {
        let dir = directory(&w);
        let path = temp("lex");
        let mut all = TantivyIndex::open(&path).unwrap();
        for (i, d) in w.docs.iter().enumerate() {
            let r = readers_of(d);
            let at = ChunkAccess { chunk_id: i as i64, doc_id: i as i64, tenant: TENANTS[d.tenant], readers: &r };
            all.add(at, &text_of(&d.words)).unwrap();
        }
        all.commit().unwrap();
        let system = AccessPass::system("test reference: unfiltered ranking");
        for (u, name) in USERS.iter().enumerate() {
            let pass = AccessPass::for_user(&dir, Principal::parse(name).unwrap());
            for (_, words) in &w.queries {
                let q = text_of(words);
                let got = all.search(&q, &pass, 5).unwrap();
                for (id, _) in &got {
                    prop_assert!(readable(&w, u, &w.docs[*id as usize]), "{name} got unreadable doc {id}");
                }
                // The unfiltered ranking (all tenants merged; a user's
                // tenant's scores do not depend on the others), cut to
                // what the user may read, then to k.
                let full = all.search(&q, &system, w.docs.len()).unwrap();
                let want: Vec<(i64, f32)> =
                    full.into_iter().filter(|(id, _)| readable(&w, u, &w.docs[*id as usize])).take(5).collect();
                let scores = |v: &[(i64, f32)]| v.iter().map(|x| x.1).collect::<Vec<_>>();
                prop_assert_eq!(scores(&got), scores(&want), "{}: {:?} vs {:?}", name, got, want);
            }
        }
        drop(all);
        let _ = std::fs::remove_dir_all(&path);
    }
}
