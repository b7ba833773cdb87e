//! Grounded answers with verified citations.
//!
//! `Workspace::ask` reads the question (`question`: its language, whether
//! it wants facts or a summary, its parts), searches for it and for each of
//! its parts, and stops at the relevance gate when nothing is close enough
//! (no model is called). It then chooses the passages (the hits close to
//! the best one, each part's best, the chat message a reply answers; for a
//! summary the document around the best hit), reports them (the first
//! event, before any model runs), cuts long passages to the sentences the
//! question needs (`material`), and streams the model's answer to a prompt
//! in the question's language (`prompt`), each sentence checked before it
//! is shown (`verify`). A "no answer" while the passages are close to the
//! question is asked once more; when nothing the model wrote holds and the
//! passages are close, the answer quotes their best sentences.

use twake_index::ChunkView;
use twake_llm::{ChatMessage, GenEvent, GenParams, GenStats};
use twake_types::AccessPass;

use crate::engine::text::terms;
use crate::retrieve::search::{SearchHit, snippet};
use crate::{CoreError, Result, Workspace};

mod material;
mod prompt;
mod question;
mod verify;

use material::Material;
pub use material::{as_given, heading};
pub use prompt::{
    Mode, NO_ANSWER, build_messages, estimate_tokens, fit_prompt, not_found_text, quoting_text, read_translation,
    translation_messages,
};
pub use question::{Intent, Question, parts_of};
use verify::Verifier;
pub use verify::{Dropped, Verdict, attribute, strip_markers, support, take_sentences};

/// What `Workspace::ask` reports while it works, in this order.
#[derive(Debug, Clone, Copy)]
pub enum AnswerEvent<'a> {
    /// The passages the answer draws on, before any model runs: the
    /// first useful output, in well under a second. Sent again, with
    /// passages added at the end (the numbers given stand), when a second
    /// attempt reads more.
    Sources(&'a [SearchHit]),
    /// The next piece of verified answer text.
    Text(&'a str),
}

#[derive(Debug, Clone)]
pub struct Citation {
    pub n: usize,
    pub chunk: ChunkView,
    pub snippet: String,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub text: String,
    pub citations: Vec<Citation>,
    pub model: String,
    /// False when no passage was relevant (nothing was sent to the model),
    /// or the model said the passages do not answer and they are not close
    /// enough to the question to quote them.
    pub found: bool,
    /// The answer quotes the best passages because the model's own text
    /// did not hold (nothing verified, or "no answer" against strong
    /// evidence).
    pub extractive: bool,
    pub stats: Option<GenStats>,
    /// From the request to the model's first token.
    pub first_token_ms: Option<f64>,
    /// Passages given to the model, in prompt order: `[n]` in the text is
    /// the n-th of them, as the `Sources` event numbered them.
    pub passages: Vec<SearchHit>,
    /// The messages sent to the model (before any pseudonymisation).
    pub prompt: Vec<ChatMessage>,
    /// The answer's record in the provenance log (`twake-ai audit show`).
    pub audit_id: Option<i64>,
    /// Where the request went and why.
    pub route: RouteInfo,
    /// Set when the policy refused to send the passages to any model: why.
    pub refused: Option<String>,
    /// Set when every allowed model failed (the failure is logged, then
    /// returned as the error).
    pub failed: Option<twake_llm::LlmError>,
}

impl Answer {
    /// An answer with nothing found and nothing cited; callers set what
    /// else they know (`stats`, `refused`, `failed`).
    fn unanswered(text: String, model: String, passages: Vec<SearchHit>, route: RouteInfo) -> Self {
        Answer {
            text,
            citations: vec![],
            model,
            found: false,
            extractive: false,
            stats: None,
            first_token_ms: None,
            passages,
            prompt: vec![],
            audit_id: None,
            route,
            refused: None,
            failed: None,
        }
    }
}

/// A passage as the gateway names it in a refusal (path and locator) and
/// its level.
pub(crate) fn described(c: &ChunkView) -> (String, twake_types::Sensitivity) {
    let loc = c.locator.display();
    (if loc.is_empty() { c.path.clone() } else { format!("{} ({loc})", c.path) }, c.sensitivity)
}

/// A generation under way on one route.
struct Started {
    rx: tokio::sync::mpsc::UnboundedReceiver<GenEvent>,
    model: String,
    info: RouteInfo,
    pseudonymiser: Option<crate::policy::pseudonym::Pseudonymiser>,
    /// How many of the passages (the first ones) are in the prompt.
    given: usize,
    /// The messages sent, before pseudonymisation.
    prompt: Vec<ChatMessage>,
}

/// The gateway's decision for one answer, as the provenance log records it.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub endpoint: String,
    pub jurisdiction: String,
    pub decision: String,
    /// How many values were pseudonymised (0: none).
    pub pseudonymised: usize,
    /// The answering model's price per million tokens (for budgets).
    pub price_per_million: f64,
}

impl RouteInfo {
    pub(crate) fn not_called(decision: &str) -> Self {
        RouteInfo {
            endpoint: "none".into(),
            jurisdiction: String::new(),
            decision: decision.into(),
            pseudonymised: 0,
            price_per_million: 0.0,
        }
    }
}

impl Workspace {
    /// Answers `question` from the passages `pass` may read. `on_event`
    /// receives the passages first, then the verified answer as it is
    /// produced, sentence by sentence. Every answer, found or not, appends
    /// a signed record to the provenance log; its id is `Answer::audit_id`.
    pub async fn ask(
        &self,
        question: &str,
        pass: &AccessPass,
        on_event: &mut (dyn FnMut(AnswerEvent<'_>) + Send),
    ) -> Result<Answer> {
        let mut answer = self.answer_question(question, pass, on_event).await?;
        let passages: Vec<&ChunkView> = answer.passages.iter().map(|p| &p.chunk).collect();
        let id = self
            .log_use(pass, question, &passages, &answer.model, &answer.route, answer.stats.as_ref(), answer.found)
            .await?;
        answer.audit_id = Some(id);
        if let Some(why) = answer.refused.take() {
            return Err(CoreError::Refused { message: why, audit_id: id });
        }
        if let Some(e) = answer.failed.take() {
            return Err(CoreError::Llm(e));
        }
        Ok(answer)
    }

    /// Appends the provenance record of one use of a model (an answer, a
    /// summary, minutes…): who, the request's hash, the passages given, the
    /// model, where it runs, the decision and the pseudonymisation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn log_use(
        &self,
        pass: &AccessPass,
        request: &str,
        passages: &[&ChunkView],
        model: &str,
        route: &RouteInfo,
        stats: Option<&GenStats>,
        answered: bool,
    ) -> Result<i64> {
        let record = crate::policy::audit::AuditRecord {
            seq: 0,
            at: self.clock.now(),
            user: pass
                .user()
                .map(|u| u.to_string())
                .unwrap_or_else(|| format!("system: {}", pass.system_reason().unwrap_or(""))),
            tenant: pass.tenant().map(|t| t.to_string()).unwrap_or_default(),
            question_sha256: crate::policy::audit::sha256_hex(request.as_bytes()),
            passages: passages
                .iter()
                .map(|c| crate::policy::audit::AuditPassage {
                    chunk_id: c.chunk_id,
                    path: c.path.clone(),
                    locator: c.locator.display(),
                    sensitivity: c.sensitivity.as_str().into(),
                    content_sha256: crate::policy::audit::sha256_hex(c.text.as_bytes()),
                })
                .collect(),
            model: model.to_string(),
            endpoint: route.endpoint.clone(),
            jurisdiction: route.jurisdiction.clone(),
            decision: route.decision.clone(),
            pseudonymisation: if route.pseudonymised > 0 {
                format!(
                    "{} values replaced by placeholders, restored in the answer; mapping discarded",
                    route.pseudonymised
                )
            } else {
                "none".into()
            },
            prompt_tokens: stats.map(|s| s.prompt_tokens as u64).unwrap_or(0),
            completion_tokens: stats.map(|s| s.completion_tokens as u64).unwrap_or(0),
            answered,
            prev_hash: String::new(),
        };
        self.audit_append(record).await
    }

    /// Pseudonymises the messages in place when the route says so; the
    /// mapping (to restore the answer) is returned, and lives only as long
    /// as the request.
    pub(crate) async fn pseudonymise_for(
        &self,
        route: &crate::policy::gateway::Route,
        messages: &mut [ChatMessage],
        pass: &AccessPass,
    ) -> Result<Option<crate::policy::pseudonym::Pseudonymiser>> {
        if !route.pseudonymise {
            return Ok(None);
        }
        let mut ps = self.pseudonymiser(pass).await?;
        for m in messages {
            m.content = ps.pseudonymise(&m.content);
        }
        Ok(Some(ps))
    }

    /// Starts streaming on a route's model: the embedded one on the blocking
    /// pool, a remote one over HTTP (which does not get the grammar; callers
    /// check what comes back). Events arrive on the receiver.
    pub(crate) async fn stream_on(
        &self,
        target: &crate::policy::gateway::Target,
        messages: Vec<ChatMessage>,
        params: GenParams,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<GenEvent>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        match target {
            crate::policy::gateway::Target::Embedded => {
                let generation = self.chat().await?.generate(messages, params)?;
                tokio::task::spawn_blocking(move || {
                    for ev in generation {
                        if tx.send(ev).is_err() {
                            break;
                        }
                    }
                });
            }
            crate::policy::gateway::Target::Remote(i) => {
                let m = self.config.gateway.models[*i].clone();
                tokio::spawn(async move {
                    if let Err(e) =
                        crate::engine::remote::remote_generate(&m, &messages, params.max_tokens, tx.clone()).await
                    {
                        let _ = tx.send(crate::engine::remote::error_event(e));
                    }
                });
            }
        }
        Ok(rx)
    }

    /// The model a route names, and what the provenance log says of it.
    pub(crate) fn route_info(&self, route: &crate::policy::gateway::Route) -> (String, RouteInfo, u32) {
        match &route.target {
            crate::policy::gateway::Target::Embedded => (
                self.chat_model_name(),
                RouteInfo {
                    endpoint: "embedded".into(),
                    jurisdiction: self.config.models.jurisdiction.clone(),
                    decision: route.decision.clone(),
                    pseudonymised: 0,
                    price_per_million: self.config.models.price_per_million_tokens,
                },
                self.config.models.context,
            ),
            crate::policy::gateway::Target::Remote(i) => {
                let m = &self.config.gateway.models[*i];
                (
                    format!("{} ({})", m.name, m.model),
                    RouteInfo {
                        endpoint: m.url.clone(),
                        jurisdiction: m.jurisdiction.clone(),
                        decision: route.decision.clone(),
                        pseudonymised: 0,
                        price_per_million: m.price_per_million_tokens,
                    },
                    m.context,
                )
            }
        }
    }

    /// The passages for a question: the question's hits, and each part's
    /// (so a part answered by another file is not crowded out); the best
    /// hit of each part comes back too.
    async fn retrieve(&self, q: &Question, pass: &AccessPass) -> Result<(Vec<SearchHit>, Vec<i64>)> {
        let k = self.config.answer.passages.max(8);
        let mut hits = self.search(&q.text, pass, k).await?;
        let mut part_best = Vec::new();
        for part in q.searchable_parts() {
            let more = self.search(part, pass, 4).await?;
            if let Some(b) = more.first() {
                part_best.push(b.chunk.chunk_id);
            }
            for h in more {
                match hits.iter_mut().find(|x| x.chunk.chunk_id == h.chunk.chunk_id) {
                    Some(x) => x.dense = x.dense.max(h.dense),
                    None => hits.push(h),
                }
            }
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok((hits, part_best))
    }

    /// The passages given to the model, in prompt order. Facts: the hits
    /// close to the best one, each part's best hit, and before a chat
    /// message the one it answers. A summary: the best hit's document (a
    /// transcript's or file's passages, a mail's thread, a chat message's
    /// neighbours), in order, within a budget. Passages contained in
    /// another one (a quoted message) are left out.
    async fn choose_passages(
        &self,
        q: &Question,
        hits: Vec<SearchHit>,
        part_best: &[i64],
        pass: &AccessPass,
    ) -> Result<Vec<SearchHit>> {
        let cfg = &self.config.answer;
        let best = hits.iter().map(|h| h.dense).fold(f32::NEG_INFINITY, f32::max);
        let mut chosen: Vec<SearchHit> = match q.intent {
            Intent::Summary => {
                // The document the question names: the hits' documents
                // ranked by similarity, lifted by how much of the
                // question's subject their title says ("the stand-up of
                // December 1").
                let key = q.key_terms();
                let titled = |h: &SearchHit| {
                    let t = terms(&h.chunk.title);
                    let share = key.iter().filter(|k| t.contains(k)).count() as f32 / key.len().max(1) as f32;
                    h.dense + 0.1 * share
                };
                let top = hits.iter().take(8).max_by(|a, b| titled(a).total_cmp(&titled(b))).unwrap_or(&hits[0]);
                self.document_around(top, pass).await?
            }
            Intent::Facts => {
                let mut chosen: Vec<SearchHit> =
                    hits.iter().filter(|h| h.dense >= best - cfg.margin).take(cfg.passages).cloned().collect();
                for id in part_best {
                    if let Some(h) = hits.iter().find(|h| h.chunk.chunk_id == *id)
                        && h.dense >= best - 2.0 * cfg.margin
                        && !chosen.iter().any(|c| c.chunk.chunk_id == *id)
                    {
                        chosen.push(h.clone());
                    }
                }
                self.with_replied_messages(chosen, pass).await?
            }
        };
        let keep = material::distinct(&chosen);
        let mut i = 0;
        chosen.retain(|_| {
            i += 1;
            keep.contains(&(i - 1))
        });
        Ok(chosen)
    }

    /// Around the chat messages among `chosen`, what they need to be
    /// understood, when the pass may read it: before a short message,
    /// the one it answers ("je m'en charge"; at most two such additions);
    /// after a message that asks something, the two that follow it (the
    /// answer to "qui est d'astreinte ?"; for one such message).
    async fn with_replied_messages(&self, chosen: Vec<SearchHit>, pass: &AccessPass) -> Result<Vec<SearchHit>> {
        let mut out: Vec<SearchHit> = Vec::with_capacity(chosen.len() + 4);
        let (mut added, mut followed) = (0, false);
        for h in chosen {
            let short = h.chunk.text.chars().count() < 100;
            let asks = h.chunk.text.trim_end().ends_with('?');
            let doc = match h.chunk.kind {
                twake_types::SourceKind::Chat if (short && added < 2) || (asks && !followed) => {
                    self.store.readable_document(h.chunk.doc_id, pass).await?
                }
                _ => None,
            };
            let Some(doc) = doc else {
                if !out.iter().any(|x| x.chunk.chunk_id == h.chunk.chunk_id) {
                    out.push(h);
                }
                continue;
            };
            let around = self.store.neighbours(&doc, &room_prefix(&doc.path), 2, pass).await?;
            let after = |d: &twake_index::DocView| (&d.date, d.doc_id) > (&doc.date, doc.doc_id);
            if short && added < 2 && !asks {
                // A short message is read with the message it answers.
                if let Some(d) = around.iter().rev().find(|d| !after(d))
                    && !out.iter().any(|x| x.chunk.doc_id == d.doc_id)
                    && let Some(c) = self.store.doc_chunks(d.doc_id, pass).await?.into_iter().next()
                {
                    out.push(context_hit(c, &h));
                    added += 1;
                }
            }
            if !out.iter().any(|x| x.chunk.chunk_id == h.chunk.chunk_id) {
                out.push(h.clone());
            }
            if asks && !followed {
                followed = true;
                for d in around.iter().filter(|d| after(d)) {
                    if !out.iter().any(|x| x.chunk.doc_id == d.doc_id)
                        && let Some(c) = self.store.doc_chunks(d.doc_id, pass).await?.into_iter().next()
                    {
                        out.push(context_hit(c, &h));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The document around a hit, for a summary: its passages in order
    /// (a mail: its thread's readable messages), at most
    /// `SUMMARY_CHARS` of text centred on the hit.
    async fn document_around(&self, hit: &SearchHit, pass: &AccessPass) -> Result<Vec<SearchHit>> {
        let mut chunks: Vec<ChunkView> = Vec::new();
        match (hit.chunk.kind, hit.chunk.message_id.as_deref()) {
            (twake_types::SourceKind::Mail, Some(id)) => {
                for d in self.store.thread_documents(id, pass).await? {
                    chunks.extend(self.store.doc_chunks(d.doc_id, pass).await?);
                }
            }
            (twake_types::SourceKind::Chat, _) => {
                if let Some(doc) = self.store.readable_document(hit.chunk.doc_id, pass).await? {
                    let mut docs = self.store.neighbours(&doc, &room_prefix(&doc.path), 6, pass).await?;
                    docs.push(doc);
                    docs.sort_by(|a, b| a.date.cmp(&b.date));
                    for d in docs {
                        chunks.extend(self.store.doc_chunks(d.doc_id, pass).await?);
                    }
                }
            }
            _ => chunks = self.store.doc_chunks(hit.chunk.doc_id, pass).await?,
        }
        let at = chunks.iter().position(|c| c.chunk_id == hit.chunk.chunk_id).unwrap_or(0);
        let (mut lo, mut hi) = (at, at + 1);
        let len = |c: &ChunkView| c.text.chars().count();
        let mut used = chunks.get(at).map(len).unwrap_or(0);
        loop {
            let grown = (
                hi < chunks.len() && used + len(&chunks[hi]) <= SUMMARY_CHARS,
                lo > 0 && used + len(&chunks[lo - 1]) <= SUMMARY_CHARS,
            );
            match grown {
                (true, _) => {
                    used += len(&chunks[hi]);
                    hi += 1;
                }
                (false, true) => {
                    lo -= 1;
                    used += len(&chunks[lo]);
                }
                (false, false) => break,
            }
        }
        if chunks.is_empty() {
            return Ok(vec![hit.clone()]);
        }
        Ok(chunks
            .drain(lo..hi)
            .map(|c| if c.chunk_id == hit.chunk.chunk_id { hit.clone() } else { context_hit(c, hit) })
            .collect())
    }

    /// How relevant each unit (line, sentence) of each passage is to the
    /// question or one of its parts: the best cosine of the unit against
    /// the question's and the parts' vectors.
    async fn unit_scores(&self, split: &[Vec<String>], queries: &[Vec<f32>]) -> Result<Vec<Units>> {
        let mut out = Vec::with_capacity(split.len());
        for units in split {
            let vectors = self.embedder.embed(units.iter().map(|u| format!("passage: {u}")).collect()).await?;
            let scores = vectors
                .iter()
                .map(|v| queries.iter().map(|q| verify::cosine(q, v)).fold(f32::NEG_INFINITY, f32::max))
                .collect();
            out.push(Units { units: units.clone(), scores, vectors });
        }
        Ok(out)
    }

    /// A given passage as the sentence checks read it.
    fn evidence(&self, p: &SearchHit, m: &Material, answers_asked: bool) -> verify::Evidence {
        let given = format!("{}\n{}", m.head, material::spoken(&p.chunk, &p.chunk.text));
        verify::Evidence {
            terms: terms(&crate::retrieve::facts::clock_times(&given)),
            text: given,
            lang: crate::engine::text::detect(&p.chunk.text),
            vector: self.vectors().vector(p.chunk.chunk_id).unwrap_or_default(),
            answers_asked,
        }
    }

    /// The question in the other language, by the embedded model (greedy,
    /// a line), with what it cost; `None` when it wrote nothing usable.
    async fn translate_question(&self, q: &Question) -> Result<Option<(String, GenStats)>> {
        let params = GenParams { max_tokens: 64, ..GenParams::default() };
        let mut rx = self.stream_on(&crate::policy::gateway::Target::Embedded, translation_messages(q), params).await?;
        let (mut raw, mut stats) = (String::new(), GenStats::default());
        while let Some(ev) = rx.recv().await {
            match ev {
                GenEvent::Text(t) => raw.push_str(&t),
                GenEvent::Done(s) => stats = s,
                GenEvent::Error(e) => {
                    tracing::warn!(target: "llm", error = %e, "the question could not be translated");
                    return Ok(None);
                }
            }
        }
        let t = read_translation(&raw, &q.text);
        tracing::debug!(target: "llm", translation = ?t, "question translated");
        Ok(t.map(|t| (t, stats)))
    }

    /// Starts a generation on a route: keeps the passages the model's
    /// context holds, pseudonymises the prompt when the route says so, then
    /// streams from the embedded or the remote model.
    #[allow(clippy::too_many_arguments)]
    async fn start_generation(
        &self,
        route: &crate::policy::gateway::Route,
        q: &Question,
        material: &[Material],
        mode: Mode,
        pass: &AccessPass,
        max_tokens: u32,
    ) -> Result<Started> {
        let (model, info, context) = self.route_info(route);
        let (given, max_tokens) = fit_prompt(q, material, context, max_tokens)?;
        let mut messages = build_messages(q, &material[..given], mode);
        tracing::debug!(target: "llm", prompt = %messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n---\n"), "answer prompt");
        let prompt = messages.clone();
        let pseudonymiser = self.pseudonymise_for(route, &mut messages, pass).await?;
        let repeat_penalty = if matches!(route.target, crate::policy::gateway::Target::Embedded) { 1.1 } else { 1.0 };
        let params = GenParams { max_tokens, repeat_penalty, ..GenParams::default() };
        let rx = self.stream_on(&route.target, messages, params).await?;
        Ok(Started { rx, model, info, pseudonymiser, given, prompt })
    }

    async fn answer_question(
        &self,
        question: &str,
        pass: &AccessPass,
        on_event: &mut (dyn FnMut(AnswerEvent<'_>) + Send),
    ) -> Result<Answer> {
        let t0 = std::time::Instant::now();
        let q = Question::read(question);
        let cfg = self.config.answer.clone();
        let model = self.chat_model_name();
        let (hits, part_best) = self.retrieve(&q, pass).await?;
        let best = hits.iter().map(|h| h.dense).fold(f32::NEG_INFINITY, f32::max);
        if hits.is_empty() || best < cfg.min_similarity {
            let text = not_found_text(q.lang).to_string();
            on_event(AnswerEvent::Text(&text));
            let route = RouteInfo::not_called("no relevant passage: no model was called");
            return Ok(Answer::unanswered(text, model, vec![], route));
        }
        let passages = self.choose_passages(&q, hits, &part_best, pass).await?;
        on_event(AnswerEvent::Sources(&passages));

        // The gateway: the request's level is its highest passage's; the
        // policy picks the model or refuses (fail closed).
        let candidates = self.config.gateway.candidates().map_err(CoreError::Config)?;
        let described: Vec<(String, twake_types::Sensitivity)> = passages.iter().map(|p| described(&p.chunk)).collect();
        let routes = match crate::policy::gateway::routes(&described, &candidates) {
            Ok(r) => r,
            Err(why) => {
                on_event(AnswerEvent::Text(&why));
                let route = RouteInfo::not_called(&format!("refused: {why}"));
                return Ok(Answer { refused: Some(why.clone()), ..Answer::unanswered(why, model, passages, route) });
            }
        };

        // What the model reads: for facts, a long passage is cut to the
        // units closest to the question and its parts.
        let mut queries = vec![self.embedder.embed_query(&q.text).await?];
        if q.parts.len() > 1 {
            for part in &q.parts {
                queries.push(self.embedder.embed_query(part).await?);
            }
        }
        let split: Vec<Vec<String>> = passages.iter().map(|p| material::units(&p.chunk.text, p.chunk.kind).1).collect();
        let is_long = |p: &SearchHit| p.chunk.text.chars().count() > material::WHOLE_UP_TO;
        let mut scored = if q.intent == Intent::Facts && passages.iter().any(is_long) {
            Some(self.unit_scores(&split, &queries).await?)
        } else {
            None
        };
        let materials: Vec<Material> = passages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let text = match &scored {
                    Some(s) if is_long(p) => {
                        let u = &s[i];
                        material::join_kept(&u.units, &material::keep(&u.units, &u.scores, material::CUT_TO, 0.04))
                    }
                    _ => split[i].join("\n"),
                };
                Material { head: material::heading(&p.chunk), text: material::spoken(&p.chunk, &text) }
            })
            .collect();
        let max_tokens = match q.intent {
            Intent::Facts => cfg.max_tokens,
            Intent::Summary => cfg.max_tokens + cfg.max_tokens / 2,
        };
        // Strong evidence: the passages are close enough to the question
        // that "no answer" is not taken at its word. A summary of the
        // document they come from is then always written.
        let strong = best >= cfg.confident_similarity;
        let first_mode = if q.intent == Intent::Summary && strong { Mode::MustAnswer } else { Mode::MayDecline };

        // The first allowed model that starts answering; a model that fails
        // before its first token (or whose context cannot hold the prompt)
        // hands over to the next allowed one.
        let mut failures: Vec<String> = Vec::new();
        let n_routes = routes.len();
        let mut started = None;
        for (k, route) in routes.into_iter().enumerate() {
            let last = k + 1 == n_routes;
            let (name, info, _) = self.route_info(&route);
            let mut s = match self.start_generation(&route, &q, &materials, first_mode, pass, max_tokens).await {
                Ok(s) => s,
                Err(CoreError::Llm(e)) if !last => {
                    failures.push(format!("{name} failed ({e}), fell back"));
                    continue;
                }
                Err(CoreError::Llm(e)) => {
                    // Nothing was sent: the log says which model could not take it.
                    failures.push(format!("{}: failed ({e})", info.decision));
                    let route = RouteInfo { decision: failures.join("; "), ..info };
                    return Ok(Answer { failed: Some(e), ..Answer::unanswered(String::new(), name, vec![], route) });
                }
                Err(e) => return Err(e),
            };
            let first = s.rx.recv().await;
            match first {
                Some(GenEvent::Error(e)) if !last => {
                    failures.push(format!("{} failed ({e}), fell back", s.model));
                }
                first => {
                    started = Some((route, s, first));
                    break;
                }
            }
        }
        let (route, mut started, first_event) = started.expect("the last route always ends the loop");
        let model = started.model.clone();
        let mut route_info = started.info.clone();
        if !failures.is_empty() {
            route_info.decision = format!("{}; {}", failures.join("; "), route_info.decision);
        }
        route_info.pseudonymised = started.pseudonymiser.as_ref().map(|p| p.len()).unwrap_or(0);
        // Only what the model was given can be cited or logged.
        let given = started.given;
        let mut passages = passages;
        passages.truncate(given);
        // Unit scores stay aligned with the passages kept (a quote is read
        // from the passage its number cites).
        if let Some(s) = &mut scored {
            s.truncate(given);
        }
        let evidence: Vec<verify::Evidence> = passages
            .iter()
            .zip(&materials)
            .enumerate()
            // A summary's passages are the document it names: every line
            // of it is on the subject, whatever words it uses.
            .map(|(i, (p, m))| self.evidence(p, m, q.intent == Intent::Summary || answers_asked(&passages, i)))
            .collect();
        let today = self.today();
        let echoes = echoes_of(&started.prompt, &materials[..given]);
        let all: Vec<usize> = (0..given).collect();
        let mut verifier = Verifier::new(&self.embedder, &evidence, echoes.clone(), &q, cfg.min_support, today);
        // The answer to a question of several parts says which part each
        // figure answers: "250 [1] 240 [1]" is no answer.
        verifier.needs_words = q.parts.len() > 1;
        let mut shown = Shown::default();
        let mut out = self
            .stream_verified(&mut started, Some(first_event), &mut verifier, &all, &mut shown, t0, on_event)
            .await?;
        let mut stats = out.stats.clone();
        let first_token_ms = out.first_token_ms;
        let prompt = started.prompt.clone();
        if let Some(e) = out.failed.take() {
            route_info.decision = format!("{}; failed: {e}", route_info.decision);
            let mut a = Answer::unanswered(shown.text, model, passages, route_info);
            (a.stats, a.failed, a.first_token_ms, a.prompt) = (stats, Some(e), first_token_ms, prompt);
            return Ok(a);
        }
        let mut pointed = out.pointed.clone();
        // A question of several parts whose answer left one out: a short
        // follow-up on that part alone, after the same passages and
        // question (the model's state for them is reused), checked the
        // same way; what it adds is shown after the answer.
        if q.intent == Intent::Facts && q.parts.len() > 1 {
            let left = q.unanswered_parts(&shown.text, today);
            verifier.needs_words = false;
            for &i in left.iter().take(3) {
                verifier.label = Some(q.parts[i].clone());
                let part = Question { only: Some(q.parts[i].clone()), ..q.clone() };
                let mut s =
                    self.start_generation(&route, &part, &materials[..given], Mode::MayDecline, pass, 96).await?;
                verifier.echoes.extend(echoes_of(&s.prompt, &materials[..given]));
                let more = self.stream_verified(&mut s, None, &mut verifier, &all, &mut shown, t0, on_event).await?;
                stats = add_stats(stats, more.stats);
                if let Some(e) = more.failed {
                    tracing::warn!(target: "llm", error = %e, "a follow-up on a part failed");
                    break;
                }
            }
            if !left.is_empty() {
                route_info.decision =
                    format!("{}; asked again on {} part(s) left out", route_info.decision, left.len().min(3));
            }
        }
        // Nothing shown ("no answer", or nothing that holds): a second
        // attempt. Small models pass over an answer written in the other
        // language, so the question is put into it (by the embedded model),
        // searched for again — the new passages are added to the sources,
        // numbered after the others — and asked with both forms on the
        // passages that answer the translation and the closest one; without
        // a translation, on the closest passages. Told the answer is there
        // only when the passages are close to the question; its sentences
        // are checked the same way (a sentence citing only passages in the
        // other language must find the translation's subject in them).
        let mut split = split;
        let mut materials = materials;
        let mut evidence = evidence;
        let mut q = q;
        if shown.text.is_empty() {
            let translated = match route.target {
                crate::policy::gateway::Target::Embedded => self.translate_question(&q).await?,
                crate::policy::gateway::Target::Remote(_) => None,
            };
            // The passages of the second attempt: indexes into `passages`,
            // and hits of the translation not among them yet.
            let mut set: Vec<usize> = Vec::new();
            let mut new_hits: Vec<SearchHit> = Vec::new();
            if let Some((t, s)) = translated {
                stats = add_stats(stats, Some(s));
                let more = self.search(&t, pass, self.config.answer.passages.max(8)).await?;
                let top = more.iter().map(|h| h.dense).fold(f32::NEG_INFINITY, f32::max);
                // A passage above the level this route was chosen for
                // never joins (the model may not be cleared for it).
                let allowed = more.into_iter().filter(|h| h.chunk.sensitivity <= route.level);
                for h in allowed.filter(|h| h.dense >= top - cfg.margin).take(3) {
                    match passages.iter().position(|p| p.chunk.chunk_id == h.chunk.chunk_id) {
                        Some(i) => set.push(i),
                        None => new_hits.push(h),
                    }
                }
                queries.push(self.embedder.embed_query(&t).await?);
                q.translation = Some(t);
            }
            for i in closest(&passages[..given]) {
                if !set.contains(&i) {
                    set.push(i);
                }
            }
            set.sort_unstable();
            let new_units: Vec<Vec<String>> =
                new_hits.iter().map(|h| material::units(&h.chunk.text, h.chunk.kind).1).collect();
            let new_materials: Vec<Material> = new_hits
                .iter()
                .zip(&new_units)
                .map(|(h, u)| Material {
                    head: material::heading(&h.chunk),
                    text: material::spoken(&h.chunk, &u.join("\n")),
                })
                .collect();
            let mut retry_materials: Vec<Material> = set.iter().map(|&i| materials[i].clone()).collect();
            retry_materials.extend(new_materials.iter().cloned());
            // What does not fit is never given: neither listed, cited nor logged.
            let (fits, _) = fit_prompt(&q, &retry_materials, self.route_info(&route).2, max_tokens)?;
            retry_materials.truncate(fits);
            let kept_new = fits.saturating_sub(set.len());
            set.truncate(fits);
            for ((h, m), u) in new_hits.into_iter().zip(new_materials).zip(new_units).take(kept_new) {
                evidence.push(self.evidence(&h, &m, false));
                materials.push(m);
                split.push(u);
                passages.push(h);
                set.push(passages.len() - 1);
            }
            if kept_new > 0 {
                // The added passages are numbered after the others.
                on_event(AnswerEvent::Sources(&passages));
            }
            let mode = if strong { Mode::MustAnswer } else { Mode::MayDecline };
            let retry_evidence: Vec<verify::Evidence> = set.iter().map(|&i| evidence[i].clone()).collect();
            let mut verifier = Verifier::new(&self.embedder, &retry_evidence, echoes, &q, cfg.min_support, today);
            verifier.needs_words = q.parts.len() > 1;
            started = self.start_generation(&route, &q, &retry_materials, mode, pass, max_tokens).await?;
            let retry = self.stream_verified(&mut started, None, &mut verifier, &set, &mut shown, t0, on_event).await?;
            stats = add_stats(stats, retry.stats);
            pointed.extend(retry.pointed);
            if let Some(e) = retry.failed {
                tracing::warn!(target: "llm", error = %e, "second attempt failed");
            }
            let why = if out.declined { "the model declined" } else { "nothing it wrote held" };
            let how = if q.translation.is_some() { "with the question translated" } else { "on the closest passages" };
            route_info.decision = format!("{}; asked again {how}: {why}", route_info.decision);
        }
        let given = passages.len();
        // Nothing the model wrote holds, or it declined twice, while the
        // passages are close to the question: quote their best sentences
        // rather than show nothing (an extractive answer beats none).
        // A model that named passages without writing a word points at
        // them: their sentence closest to the question is quoted. With
        // weak evidence, "nothing found" stands.
        let mut extractive = false;
        tracing::debug!(target: "llm", best, strong, ?pointed, shown = !shown.text.is_empty(), "after the model");
        if shown.text.is_empty() && (strong || !pointed.is_empty()) {
            let units = match scored.take() {
                Some(u) if u.len() == given => u,
                _ => self.unit_scores(&split[..given], &queries).await?,
            };
            let units = &units[..given.min(units.len())];
            let mut picks = if strong { extract(units, &queries, &q, QUOTE_SIMILARITY) } else { vec![] };
            if picks.is_empty() {
                // The model named passages without a word ("[1] [2]"):
                // their sentence closest to the question, if close.
                picks.extend(pointed_unit(units, &queries, &pointed));
            }
            if !picks.is_empty() {
                let mut text = quoting_text(q.lang).to_string();
                for (p, u) in &picks {
                    text.push_str(&format!("\n« {} » [{}]", units[*p].units[*u].trim(), p + 1));
                    shown.cited.insert(*p);
                }
                on_event(AnswerEvent::Text(&text));
                shown.text = text;
                extractive = true;
            }
        }
        if shown.text.is_empty() {
            let text = not_found_text(q.lang).to_string();
            on_event(AnswerEvent::Text(&text));
            let mut a = Answer::unanswered(text, model, passages, route_info);
            (a.stats, a.first_token_ms, a.prompt) = (stats, first_token_ms, prompt);
            return Ok(a);
        }
        let citations = shown
            .cited
            .iter()
            .map(|&p| Citation {
                n: p + 1,
                chunk: passages[p].chunk.clone(),
                snippet: snippet(&passages[p].chunk.text, question, 240),
            })
            .collect();
        Ok(Answer {
            text: shown.text.trim().to_string(),
            citations,
            model,
            found: true,
            extractive,
            stats,
            first_token_ms,
            passages,
            prompt,
            audit_id: None,
            route: route_info,
            refused: None,
            failed: None,
        })
    }

    /// Reads one generation to its end, showing each sentence the checks
    /// keep (the verifier's passage i is `map[i]` of the answer's);
    /// stops early when the model repeats itself.
    #[allow(clippy::too_many_arguments)]
    async fn stream_verified(
        &self,
        started: &mut Started,
        mut first_event: Option<Option<GenEvent>>,
        verifier: &mut Verifier<'_>,
        map: &[usize],
        shown: &mut Shown,
        t0: std::time::Instant,
        on_event: &mut (dyn FnMut(AnswerEvent<'_>) + Send),
    ) -> Result<Streamed> {
        let mut out = Streamed::default();
        let mut buf = String::new();
        let mut raw = String::new();
        let mut finished = false;
        let mut repeated = 0;
        while !finished {
            let ev = match first_event.take() {
                Some(ev) => ev,
                None => started.rx.recv().await,
            };
            match ev {
                Some(GenEvent::Text(t)) => {
                    out.first_token_ms = out.first_token_ms.or(Some(t0.elapsed().as_secs_f64() * 1000.0));
                    raw.push_str(&t);
                    buf.push_str(&t);
                }
                Some(GenEvent::Done(s)) => {
                    out.stats = Some(s);
                    finished = true;
                }
                Some(GenEvent::Error(e)) => {
                    out.failed = Some(e);
                    break;
                }
                None => finished = true,
            }
            let head = raw.trim_start();
            if head.starts_with(NO_ANSWER) || NO_ANSWER.starts_with(head) && !finished {
                continue;
            }
            for sentence in take_sentences(&mut buf, finished) {
                // The user sees real values, never placeholders.
                let sentence = match &started.pseudonymiser {
                    Some(p) => p.restore(&sentence),
                    None => sentence,
                };
                let piece = match verifier.check(&sentence).await? {
                    None => continue,
                    Some(Verdict::Cited { text, passages }) => {
                        // Numbered as the sources event numbered them.
                        let passages: Vec<usize> = passages.iter().map(|&i| map[i]).collect();
                        shown.cited.extend(passages.iter().copied());
                        with_marks(&text, &passages)
                    }
                    Some(Verdict::Plain(text)) => text,
                    Some(Verdict::Dropped(why)) => {
                        tracing::debug!(target: "llm", ?why, sentence = %sentence.trim(), "sentence not shown");
                        shown.dropped += 1;
                        if why == Dropped::Repeat {
                            repeated += 1;
                        }
                        continue;
                    }
                };
                let sep = if shown.text.is_empty() {
                    ""
                } else if shown.line_break || sentence.starts_with('\n') {
                    "\n"
                } else {
                    " "
                };
                shown.line_break = sentence.trim_end_matches([' ', '\t']).ends_with('\n');
                let chunk = format!("{sep}{piece}");
                on_event(AnswerEvent::Text(&chunk));
                shown.text.push_str(&chunk);
            }
            if repeated >= 2 {
                // A loop: stop the generation (dropping its stream cancels it).
                out.looped = true;
                break;
            }
        }
        out.declined = raw.trim().is_empty() || raw.trim_start().starts_with(NO_ANSWER);
        let (bare, named) = strip_markers(raw.trim());
        if !out.declined && !bare.chars().any(char::is_alphanumeric) {
            out.pointed = named.iter().filter_map(|&n| map.get(n.wrapping_sub(1)).copied()).collect();
        }
        tracing::debug!(target: "llm", output = %raw, declined = out.declined, looped = out.looped, "model output");
        Ok(out)
    }
}

/// What the reader of a generation saw.
#[derive(Default)]
struct Streamed {
    stats: Option<GenStats>,
    first_token_ms: Option<f64>,
    failed: Option<twake_llm::LlmError>,
    /// The model wrote nothing, or "no answer".
    declined: bool,
    /// Stopped because the model repeated itself.
    looped: bool,
    /// The passages (the answer's indexes) the model named without a
    /// word: its whole output was citation marks.
    pointed: Vec<usize>,
}

/// The answer as shown so far.
#[derive(Default)]
struct Shown {
    text: String,
    /// Passages cited (0-based; shown as `[n + 1]`).
    cited: std::collections::BTreeSet<usize>,
    line_break: bool,
    dropped: usize,
}

/// A passage's units with their relevance and vectors.
struct Units {
    units: Vec<String>,
    scores: Vec<f32>,
    vectors: Vec<Vec<f32>>,
}

/// From this similarity of a unit to the question, a unit in the other
/// language is quoted (a unit in the question's language must hold half
/// of its key terms).
const QUOTE_SIMILARITY: f32 = 0.86;

/// From this similarity to the question, a unit of a passage the model
/// named without a word is quoted.
const POINTED_SIMILARITY: f32 = 0.80;

/// The largest text a summary reads of a document.
const SUMMARY_CHARS: usize = 3000;

/// The room of a chat item: a connected room's items are
/// `matrix://SOURCE/ROOM/EVENT`; an ingested export is one file.
fn room_prefix(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((room, _)) if path.contains("://") => format!("{room}/"),
        _ => path.to_string(),
    }
}

/// What the prompt says besides the passages' text: their headings, the
/// instruction, the question and the lines of what to write (a sentence
/// that repeats one of them states nothing).
fn echoes_of(prompt: &[ChatMessage], materials: &[Material]) -> Vec<String> {
    let mut out: Vec<String> = materials.iter().map(|m| m.head.clone()).collect();
    if let Some(system) = prompt.first() {
        out.extend(twake_extract::chunk::sentences(&system.content));
    }
    if let Some(user) = prompt.get(1)
        && let Some(at) = user.content.rfind("\n\nQuestion")
    {
        out.extend(user.content[at..].lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    out
}

/// The passages a second attempt reads: the closest to the question (at
/// most two, within 0.02 of the best), each with the chat messages added
/// around it for context (the one it answers, those that answer it); in
/// their order.
fn closest(passages: &[SearchHit]) -> Vec<usize> {
    let best = passages.iter().map(|p| p.dense).fold(f32::NEG_INFINITY, f32::max);
    let mut by_dense: Vec<usize> = (0..passages.len()).filter(|&i| passages[i].score > 0.0).collect();
    by_dense.sort_by(|&a, &b| passages[b].dense.total_cmp(&passages[a].dense));
    let context = |i: usize| passages[i].score == 0.0 && passages[i].chunk.kind == twake_types::SourceKind::Chat;
    let mut out: Vec<usize> = Vec::new();
    for i in by_dense.into_iter().take(2).filter(|&i| passages[i].dense >= best - 0.02) {
        if passages[i].chunk.kind == twake_types::SourceKind::Chat {
            if i > 0 && context(i - 1) {
                out.push(i - 1);
            }
            out.extend((i + 1..passages.len()).take_while(|&j| context(j)));
        }
        out.push(i);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether passage `i` is a chat message added for context after a
/// message that asks something (it answers it).
fn answers_asked(passages: &[SearchHit], i: usize) -> bool {
    let context = |j: usize| passages[j].score == 0.0 && passages[j].chunk.kind == twake_types::SourceKind::Chat;
    if !context(i) {
        return false;
    }
    let asked = (0..i).rev().find(|&j| !context(j));
    asked.is_some_and(|j| {
        passages[j].chunk.kind == twake_types::SourceKind::Chat && passages[j].chunk.text.trim_end().ends_with('?')
    })
}

/// A passage added for context (not found by the search itself).
fn context_hit(chunk: ChunkView, near: &SearchHit) -> SearchHit {
    let snippet = crate::retrieve::search::snippet(&chunk.text, "", 240);
    SearchHit { rank: near.rank, score: 0.0, dense: near.dense, lexical: None, chunk, snippet }
}

/// A sentence with its citation marks before its final punctuation.
fn with_marks(text: &str, passages: &[usize]) -> String {
    let mut ns: Vec<usize> = passages.iter().map(|p| p + 1).collect();
    ns.sort_unstable();
    ns.dedup();
    let marks: String = ns.iter().map(|n| format!("[{n}]")).collect();
    match text.char_indices().last() {
        Some((i, c)) if matches!(c, '.' | '!' | '?') => format!("{} {marks}{c}", text[..i].trim_end()),
        _ => format!("{text} {marks}"),
    }
}

/// The units an extractive answer quotes, as (passage, unit): for each
/// query (the question, its parts, its translation) its closest unit not
/// yet taken that says something (two content words or more, not a
/// question), at most three. A unit is quoted only when it is about the
/// question: it holds the question's key terms (one may be missing from
/// four on); a unit in the other language holds its translation's, or is
/// at least `close` to the query (a translation often words it otherwise).
fn extract(units: &[Units], queries: &[Vec<f32>], q: &Question, close: f32) -> Vec<(usize, usize)> {
    let key = q.key_terms();
    let translated_key = q.translation.as_deref().map(|t| Question::read(t).key_terms());
    let mut picks: Vec<(usize, usize)> = Vec::new();
    for query in queries.iter().rev().take(3) {
        let best = units
            .iter()
            .enumerate()
            .flat_map(|(p, u)| u.vectors.iter().enumerate().map(move |(i, v)| (p, i, verify::cosine(query, v))))
            .filter(|&(p, i, _)| {
                // A question copied from a passage answers nothing.
                let unit = &units[p].units[i];
                !picks.contains(&(p, i)) && terms(unit).len() >= 2 && !unit.trim_end().ends_with('?')
            })
            .max_by(|a, b| a.2.total_cmp(&b.2));
        let Some((p, i, cos)) = best else { continue };
        let text = &units[p].units[i];
        let unit_terms = terms(text);
        let about = match (crate::engine::text::detect(text) == q.lang, &translated_key) {
            (true, _) => verify::covers(&key, &[&unit_terms]),
            (false, Some(k)) => verify::covers(k, &[&unit_terms]) || cos >= close,
            (false, None) => cos >= close,
        };
        tracing::debug!(target: "llm", unit = %text, cos, about, "quote candidate");
        if about {
            picks.push((p, i));
        }
    }
    picks.sort_unstable();
    picks
}

/// The unit an extractive answer quotes from the passages the model
/// named without a word: of those passages' units that say something (two
/// content words, not a question), the closest to a query, when it is at
/// least `POINTED_SIMILARITY` close.
fn pointed_unit(units: &[Units], queries: &[Vec<f32>], pointed: &[usize]) -> Option<(usize, usize)> {
    pointed
        .iter()
        .filter(|&&p| p < units.len())
        .flat_map(|&p| units[p].vectors.iter().enumerate().map(move |(i, v)| (p, i, v)))
        .filter(|&(p, i, _)| {
            let unit = &units[p].units[i];
            terms(unit).len() >= 2 && !unit.trim_end().ends_with('?')
        })
        .map(|(p, i, v)| (p, i, queries.iter().map(|q| verify::cosine(q, v)).fold(f32::NEG_INFINITY, f32::max)))
        .filter(|&(_, _, cos)| cos >= POINTED_SIMILARITY)
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(p, i, _)| (p, i))
}

fn add_stats(a: Option<GenStats>, b: Option<GenStats>) -> Option<GenStats> {
    match (a, b) {
        (Some(a), Some(b)) => Some(GenStats {
            prompt_tokens: a.prompt_tokens + b.prompt_tokens,
            completion_tokens: a.completion_tokens + b.completion_tokens,
            generation_ms: a.generation_ms + b.generation_ms,
            cached_tokens: a.cached_tokens + b.cached_tokens,
            hit_limit: b.hit_limit,
            ..a
        }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twake_types::{Locator, Sensitivity, SourceKind};

    fn hit(id: i64, kind: SourceKind, score: f32, dense: f32, text: &str) -> SearchHit {
        let chunk = ChunkView {
            chunk_id: id,
            doc_id: id,
            path: "room.json".into(),
            kind,
            title: format!("Doc {id}"),
            message_id: None,
            author: Some("marc.petit@valmont.fr".into()),
            date: Some("2026-11-24T10:00:00Z".into()),
            locator: Locator::Message,
            text: text.into(),
            sensitivity: Sensitivity::Internal,
        };
        SearchHit { rank: 1, score, dense, lexical: None, chunk, snippet: String::new() }
    }

    #[test]
    fn a_second_attempt_reads_the_closest_passages_with_the_message_they_answer() {
        let p = [
            hit(1, SourceKind::Document, 0.90, 0.86, "a"),
            hit(2, SourceKind::Chat, 0.0, 0.88, "question"), // added for context
            hit(3, SourceKind::Chat, 0.89, 0.88, "je m'en charge"),
            hit(4, SourceKind::Document, 0.87, 0.875, "b"),
        ];
        assert_eq!(closest(&p), [1, 2, 3], "the two closest, the reply with its question");
        let asked = [
            hit(1, SourceKind::Chat, 0.90, 0.90, "qui est d'astreinte ?"),
            hit(2, SourceKind::Chat, 0.0, 0.90, "Bob le samedi, Marc le dimanche"), // added for context
            hit(3, SourceKind::Document, 0.80, 0.80, "c"),
        ];
        assert_eq!(closest(&asked), [0, 1], "a question with the message that answers it");
        assert!(answers_asked(&asked, 1) && !answers_asked(&asked, 0) && !answers_asked(&asked, 2));
        assert!(!answers_asked(&p, 1), "a message added before its reply answers nothing");
        assert_eq!(closest(&p[..1]), [0]);
    }

    #[test]
    fn marks_go_before_the_final_stop_and_echoes_are_the_prompt_s_own_lines() {
        assert_eq!(with_marks("Le 14 mars.", &[2, 0, 2]), "Le 14 mars [1][3].");
        assert_eq!(with_marks("Deux heures", &[1]), "Deux heures [2]");
        let q = Question::read("Quand a lieu la bascule ?");
        let m = [Material {
            head: "Migration (Claire Dubois, 2026-11-02)".into(),
            text: "La bascule a lieu le 14 mars.".into(),
        }];
        let echoes = echoes_of(&build_messages(&q, &m, Mode::MayDecline), &m);
        assert!(echoes.contains(&"Migration (Claire Dubois, 2026-11-02)".to_string()));
        assert!(echoes.iter().any(|e| e.starts_with("Réponds en une à trois phrases")));
        assert!(!echoes.iter().any(|e| e.contains("14 mars")), "the passages' text is no echo: {echoes:?}");
        assert_eq!(room_prefix("matrix://chat/!room:v.fr/$ev"), "matrix://chat/!room:v.fr/");
        assert_eq!(room_prefix("/x/infra-lyon.json"), "/x/infra-lyon.json");
    }
}
