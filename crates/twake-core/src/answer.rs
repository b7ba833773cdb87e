//! Grounded answers with verified citations.
//!
//! The model is given numbered passages (material first, instruction last),
//! and its answer is checked sentence by sentence as it streams: a `[n]`
//! survives only if passage n was given and supports the sentence (shared
//! content terms, or embedding similarity for paraphrases and translations);
//! a sentence without a valid citation is attributed to the passage that
//! supports it best, if one does. Small models rarely write `[n]` by
//! themselves, so attribution is what makes citations hold.

use twake_index::ChunkView;
use twake_llm::{ChatMessage, GenEvent, GenParams, GenStats, Role};
use twake_types::AccessPass;

use crate::search::{SearchHit, snippet};
use crate::text::{Lang, detect, terms};
use crate::{CoreError, Result, Workspace};

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
    /// False when no passage was relevant (nothing was sent to the model)
    /// or the model said the passages do not answer.
    pub found: bool,
    pub stats: Option<GenStats>,
    /// Passages given to the model, in prompt order.
    pub passages: Vec<SearchHit>,
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
            stats: None,
            passages,
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
    pseudonymiser: Option<crate::pseudonym::Pseudonymiser>,
    /// How many of the passages (the first ones) are in the prompt.
    given: usize,
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

pub fn not_found_text(lang: Lang) -> &'static str {
    match lang {
        Lang::Fr => "Je n'ai trouvé dans vos documents aucun passage qui réponde à cette question.",
        Lang::En => "I found nothing in your documents that answers this question.",
    }
}

const NO_ANSWER: &str = "NO_ANSWER";

/// The prompt: passages first, the instruction and the question last (small
/// models copied the material when the instruction came first).
pub fn build_messages(question: &str, passages: &[SearchHit], lang: Lang) -> Vec<ChatMessage> {
    let mut material = String::new();
    for (i, p) in passages.iter().enumerate() {
        let loc = p.chunk.locator.display();
        let head = if loc.is_empty() { p.chunk.title.clone() } else { format!("{} — {loc}", p.chunk.title) };
        material.push_str(&format!("[{}] {head}\n{}\n\n", i + 1, p.chunk.text.trim()));
    }
    let system = format!(
        "You are TwakeAI, an assistant that answers questions about the user's own mail, documents and meetings. \
         Use only the numbered sources. Answer in {lang}. Be brief: at most three sentences. \
         End each sentence with the number of the source it comes from, like [1]. \
         If the sources do not contain the answer, reply exactly {NO_ANSWER}.",
        lang = lang.name()
    );
    let user = format!(
        "Sources:\n\n{material}Question: {question}\n\nAnswer the question in {lang} using only the sources above, citing them as [n]. If they do not contain the answer, reply {NO_ANSWER}.",
        lang = lang.name()
    );
    vec![ChatMessage { role: Role::System, content: system }, ChatMessage { role: Role::User, content: user }]
}

/// A rough token count for a prompt whose tokenizer is not at hand (a
/// remote model's): three characters a token, which overestimates for
/// French and English text, plus a few tokens a message for the template.
pub fn estimate_tokens(messages: &[ChatMessage]) -> usize {
    messages.iter().map(|m| m.content.chars().count().div_ceil(3) + 8).sum()
}

/// How many of the passages (the best first) a model with `context` tokens
/// can be given along with room for the answer, and the answer's token
/// budget: fewer passages first, then a shorter answer (at least 64
/// tokens); a prompt that still does not fit is an error.
pub fn fit_prompt(
    question: &str,
    passages: &[SearchHit],
    lang: Lang,
    context: u32,
    max_tokens: u32,
) -> std::result::Result<(usize, u32), twake_llm::LlmError> {
    let context = context as usize;
    let mut k = passages.len();
    loop {
        let tokens = estimate_tokens(&build_messages(question, &passages[..k], lang));
        if tokens + max_tokens as usize <= context {
            return Ok((k, max_tokens));
        }
        if k <= 1 {
            return if tokens + 64 <= context {
                Ok((k, (context - tokens) as u32))
            } else {
                Err(twake_llm::LlmError::PromptTooLong { tokens, ctx: context as u32 })
            };
        }
        k -= 1;
    }
}

/// Citation markers (`[2]`, `[1, 3]`, `[1][2]`) removed from a sentence,
/// with the numbers they named.
pub fn strip_markers(sentence: &str) -> (String, Vec<usize>) {
    let mut out = String::new();
    let mut nums = Vec::new();
    let mut rest = sentence;
    while let Some(start) = rest.find('[') {
        let Some(len) = rest[start..].find(']') else { break };
        let inner = &rest[start + 1..start + len];
        let parsed: Option<Vec<usize>> =
            inner.split([',', ';']).map(|p| p.trim().trim_start_matches("Source ").trim().parse().ok()).collect();
        match parsed {
            Some(ns) if !ns.is_empty() => {
                out.push_str(&rest[..start]);
                nums.extend(ns);
            }
            _ => out.push_str(&rest[..=start + len]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    // Tidy the spaces left by removed markers: "mars [1]." → "mars.".
    let mut tidy = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in [" .", " ,", " !", " ?", " ;", " :"] {
        if p == " :" || p == " ;" || p == " !" || p == " ?" {
            continue; // French typography keeps a space before these.
        }
        tidy = tidy.replace(p, &p[1..]);
    }
    (tidy, nums)
}

/// Splits complete sentences off the front of a streamed buffer. A
/// sentence is complete when its end punctuation (or a line break) is
/// followed by text that is not a citation marker.
pub fn take_sentences(buf: &mut String, finished: bool) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let chars: Vec<(usize, char)> = buf.char_indices().collect();
        let mut cut = None;
        for (i, &(pos, c)) in chars.iter().enumerate() {
            let end_punct = matches!(c, '.' | '!' | '?' | '\n');
            if !end_punct {
                continue;
            }
            if c != '\n' && chars.get(i + 1).is_some_and(|(_, n)| !n.is_whitespace()) {
                continue; // "3.5", "e.g"
            }
            if c == '.' {
                // A list number ("2. ") does not end a sentence.
                let line_start = chars[..i].iter().rposition(|(_, x)| *x == '\n').map(|p| p + 1).unwrap_or(0);
                let token = &chars[line_start..i];
                if !token.is_empty() && token.iter().all(|(_, x)| x.is_ascii_digit() || x.is_whitespace()) {
                    continue;
                }
            }
            // Absorb following white space and markers like " [1][2]".
            let mut j = i + 1;
            let mut after = pos + c.len_utf8();
            loop {
                while j < chars.len() && chars[j].1.is_whitespace() && chars[j].1 != '\n' {
                    j += 1;
                }
                if j < chars.len() && chars[j].1 == '[' {
                    match chars[j..].iter().position(|(_, c)| *c == ']') {
                        Some(k) => {
                            j += k + 1;
                            after = chars.get(j).map(|x| x.0).unwrap_or(buf.len());
                            continue;
                        }
                        None => break,
                    }
                }
                break;
            }
            if j < chars.len() {
                // Also take a trailing period after markers: "mars [1]."
                if matches!(chars[j].1, '.' | '!' | '?') {
                    j += 1;
                    after = chars.get(j).map(|x| x.0).unwrap_or(buf.len());
                }
                if j < chars.len() {
                    cut = Some(after);
                    break;
                }
            }
            if finished {
                cut = Some(after);
                break;
            }
        }
        match cut {
            Some(at) => {
                let s: String = buf[..at].to_string();
                buf.replace_range(..at, "");
                if !s.trim().is_empty() {
                    out.push(s);
                }
            }
            None => {
                if finished && !buf.trim().is_empty() {
                    out.push(std::mem::take(buf));
                }
                return out;
            }
        }
    }
}

/// How well a passage supports a sentence, in [0, 1]: the larger of the
/// share of the sentence's content terms found in the passage and the
/// rescaled embedding similarity (which carries paraphrases and
/// translations).
pub fn support(sentence_terms: &[String], passage_terms: &[String], cosine: f32) -> f32 {
    let lexical = if sentence_terms.is_empty() {
        0.0
    } else {
        sentence_terms.iter().filter(|t| passage_terms.contains(t)).count() as f32 / sentence_terms.len() as f32
    };
    let dense = ((cosine - 0.78) / 0.12).clamp(0.0, 1.0);
    lexical.max(dense)
}

/// Decides the citations of one sentence: keeps the given numbers that are
/// in range and supported, else attributes the best-supporting passage.
/// Returns 0-based passage indexes.
pub fn attribute(cited: &[usize], supports: &[f32], min_support: f32) -> Vec<usize> {
    let mut kept: Vec<usize> = cited
        .iter()
        .filter(|&&n| n >= 1 && n <= supports.len() && supports[n - 1] >= min_support)
        .map(|n| n - 1)
        .collect();
    kept.dedup();
    if kept.is_empty()
        && let Some((i, s)) = supports.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
        && *s >= min_support
    {
        kept.push(i);
    }
    kept
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Workspace {
    /// Answers `question` from the passages `pass` may read. `on_text`
    /// receives the verified answer as it is produced, sentence by sentence.
    /// Every answer, found or not, appends a signed record to the
    /// provenance log; its id is `Answer::audit_id`.
    pub async fn ask(
        &self,
        question: &str,
        pass: &AccessPass,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Answer> {
        let mut answer = self.answer_question(question, pass, on_text).await?;
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
        let record = crate::audit::AuditRecord {
            seq: 0,
            at: self.clock.now(),
            user: pass
                .user()
                .map(|u| u.to_string())
                .unwrap_or_else(|| format!("system: {}", pass.system_reason().unwrap_or(""))),
            tenant: pass.tenant().map(|t| t.to_string()).unwrap_or_default(),
            question_sha256: crate::audit::sha256_hex(request.as_bytes()),
            passages: passages
                .iter()
                .map(|c| crate::audit::AuditPassage {
                    chunk_id: c.chunk_id,
                    path: c.path.clone(),
                    locator: c.locator.display(),
                    sensitivity: c.sensitivity.as_str().into(),
                    content_sha256: crate::audit::sha256_hex(c.text.as_bytes()),
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
        route: &crate::gateway::Route,
        messages: &mut [ChatMessage],
        pass: &AccessPass,
    ) -> Result<Option<crate::pseudonym::Pseudonymiser>> {
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
        target: &crate::gateway::Target,
        messages: Vec<ChatMessage>,
        params: GenParams,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<GenEvent>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        match target {
            crate::gateway::Target::Embedded => {
                let generation = self.chat().await?.generate(messages, params)?;
                tokio::task::spawn_blocking(move || {
                    for ev in generation {
                        if tx.send(ev).is_err() {
                            break;
                        }
                    }
                });
            }
            crate::gateway::Target::Remote(i) => {
                let m = self.config.gateway.models[*i].clone();
                tokio::spawn(async move {
                    if let Err(e) = crate::gateway::remote_generate(&m, &messages, params.max_tokens, tx.clone()).await
                    {
                        let _ = tx.send(crate::gateway::error_event(e));
                    }
                });
            }
        }
        Ok(rx)
    }

    /// The model a route names, and what the provenance log says of it.
    pub(crate) fn route_info(&self, route: &crate::gateway::Route) -> (String, RouteInfo, u32) {
        match &route.target {
            crate::gateway::Target::Embedded => (
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
            crate::gateway::Target::Remote(i) => {
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

    /// Starts a generation on a route: keeps the passages the model's
    /// context holds, pseudonymises the prompt when the route says so, then
    /// streams from the embedded or the remote model.
    async fn start_generation(
        &self,
        route: &crate::gateway::Route,
        question: &str,
        passages: &[SearchHit],
        lang: Lang,
        pass: &AccessPass,
        max_tokens: u32,
    ) -> Result<Started> {
        let (model, info, context) = self.route_info(route);
        let (given, max_tokens) = fit_prompt(question, passages, lang, context, max_tokens)?;
        let mut messages = build_messages(question, &passages[..given], lang);
        let pseudonymiser = self.pseudonymise_for(route, &mut messages, pass).await?;
        let params = GenParams { max_tokens, ..GenParams::default() };
        let rx = self.stream_on(&route.target, messages, params).await?;
        Ok(Started { rx, model, info, pseudonymiser, given })
    }

    async fn answer_question(
        &self,
        question: &str,
        pass: &AccessPass,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Answer> {
        let lang = detect(question);
        let cfg = self.config.answer.clone();
        let hits = self.search(question, pass, cfg.passages.max(8)).await?;
        let best = hits.iter().map(|h| h.dense).fold(f32::NEG_INFINITY, f32::max);
        let model = self.chat_model_name();
        if hits.is_empty() || best < cfg.min_similarity {
            let text = not_found_text(lang).to_string();
            on_text(&text);
            let route = RouteInfo::not_called("no relevant passage: no model was called");
            return Ok(Answer::unanswered(text, model, vec![], route));
        }
        let passages: Vec<SearchHit> =
            hits.into_iter().filter(|h| h.dense >= best - cfg.margin).take(cfg.passages).collect();
        let passage_terms: Vec<Vec<String>> =
            passages.iter().map(|p| terms(&format!("{}\n{}", p.chunk.title, p.chunk.text))).collect();
        let passage_vecs: Vec<Vec<f32>> =
            passages.iter().map(|p| self.vectors().vector(p.chunk.chunk_id).unwrap_or_default()).collect();

        // The gateway: the request's level is its highest passage's; the
        // policy picks the model or refuses (fail closed).
        let candidates = self.config.gateway.candidates().map_err(CoreError::Config)?;
        let described: Vec<(String, twake_types::Sensitivity)> = passages.iter().map(|p| described(&p.chunk)).collect();
        let routes = match crate::gateway::routes(&described, &candidates) {
            Ok(r) => r,
            Err(why) => {
                on_text(&why);
                let route = RouteInfo::not_called(&format!("refused: {why}"));
                return Ok(Answer { refused: Some(why.clone()), ..Answer::unanswered(why, model, passages, route) });
            }
        };
        // The first allowed model that starts answering; a model that fails
        // before its first token (or whose context cannot hold the prompt)
        // hands over to the next allowed one.
        let mut failures: Vec<String> = Vec::new();
        let n_routes = routes.len();
        let mut started = None;
        for (k, route) in routes.into_iter().enumerate() {
            let last = k + 1 == n_routes;
            let (name, info, _) = self.route_info(&route);
            let mut s = match self.start_generation(&route, question, &passages, lang, pass, cfg.max_tokens).await {
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
                    started = Some((s, first));
                    break;
                }
            }
        }
        let (started, first_event) = started.expect("the last route always ends the loop");
        let Started { mut rx, model, info: mut route_info, pseudonymiser, given } = started;
        if !failures.is_empty() {
            route_info.decision = format!("{}; {}", failures.join("; "), route_info.decision);
        }
        route_info.pseudonymised = pseudonymiser.as_ref().map(|p| p.len()).unwrap_or(0);
        // Only what the model was given can be cited or logged.
        let mut passages = passages;
        passages.truncate(given);
        let (passage_terms, passage_vecs) = (&passage_terms[..given], &passage_vecs[..given]);
        let mut first_event = Some(first_event);
        let mut failed = None;

        let mut buf = String::new();
        let mut out = String::new();
        let mut order: Vec<usize> = Vec::new(); // passage index by citation number - 1
        let mut stats = None;
        let mut raw = String::new();
        let mut finished = false;
        let mut line_break = false; // the last sentence ended its line
        while !finished {
            let ev = match first_event.take() {
                Some(ev) => ev,
                None => rx.recv().await,
            };
            match ev {
                Some(GenEvent::Text(t)) => {
                    raw.push_str(&t);
                    buf.push_str(&t);
                }
                Some(GenEvent::Done(s)) => {
                    stats = Some(s);
                    finished = true;
                }
                Some(GenEvent::Error(e)) => {
                    failed = Some(e);
                    break;
                }
                None => finished = true,
            }
            if raw.trim_start().starts_with(NO_ANSWER) || NO_ANSWER.starts_with(raw.trim_start()) && !finished {
                continue;
            }
            for sentence in take_sentences(&mut buf, finished) {
                // The user sees real values, never placeholders.
                let sentence = match &pseudonymiser {
                    Some(p) => p.restore(&sentence),
                    None => sentence,
                };
                let piece =
                    self.verify_sentence(&sentence, passage_terms, passage_vecs, cfg.min_support, &mut order).await?;
                if piece.is_empty() {
                    continue;
                }
                let sep = if out.is_empty() {
                    ""
                } else if line_break || sentence.starts_with('\n') {
                    "\n"
                } else {
                    " "
                };
                line_break = sentence.trim_end_matches([' ', '\t']).ends_with('\n');
                let chunk = format!("{sep}{piece}");
                on_text(&chunk);
                out.push_str(&chunk);
            }
        }
        if let Some(e) = failed {
            route_info.decision = format!("{}; failed: {e}", route_info.decision);
            return Ok(Answer { stats, failed: Some(e), ..Answer::unanswered(out, model, passages, route_info) });
        }
        if raw.trim().is_empty() || raw.trim_start().starts_with(NO_ANSWER) {
            let text = not_found_text(lang).to_string();
            on_text(&text);
            return Ok(Answer { stats, ..Answer::unanswered(text, model, passages, route_info) });
        }
        let citations = order
            .iter()
            .enumerate()
            .map(|(i, &p)| Citation {
                n: i + 1,
                chunk: passages[p].chunk.clone(),
                snippet: snippet(&passages[p].chunk.text, question, 240),
            })
            .collect();
        Ok(Answer {
            text: out.trim().to_string(),
            citations,
            model,
            found: true,
            stats,
            passages,
            audit_id: None,
            route: route_info,
            refused: None,
            failed: None,
        })
    }

    async fn verify_sentence(
        &self,
        sentence: &str,
        passage_terms: &[Vec<String>],
        passage_vecs: &[Vec<f32>],
        min_support: f32,
        order: &mut Vec<usize>,
    ) -> Result<String> {
        let (clean, cited) = strip_markers(sentence.trim());
        if clean.is_empty() || clean.contains(NO_ANSWER) {
            return Ok(String::new());
        }
        let st = terms(&clean);
        if st.len() < 2 {
            return Ok(clean);
        }
        let sv = self.embedder.embed_query(&clean).await?;
        let supports: Vec<f32> =
            passage_terms.iter().zip(passage_vecs).map(|(pt, pv)| support(&st, pt, cosine(&sv, pv))).collect();
        tracing::debug!(target: "llm", sentence = %clean, ?cited, ?supports, "citation check");
        let kept = attribute(&cited, &supports, min_support);
        if kept.is_empty() {
            return Ok(clean);
        }
        let marks: String = kept
            .iter()
            .map(|p| {
                let n = match order.iter().position(|q| q == p) {
                    Some(i) => i + 1,
                    None => {
                        order.push(*p);
                        order.len()
                    }
                };
                format!("[{n}]")
            })
            .collect();
        Ok(match clean.char_indices().last() {
            Some((i, c)) if matches!(c, '.' | '!' | '?') => format!("{} {marks}{c}", clean[..i].trim_end()),
            _ => format!("{clean} {marks}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_parsed_and_removed() {
        assert_eq!(
            strip_markers("La bascule a lieu le 14 mars [1]."),
            ("La bascule a lieu le 14 mars.".into(), vec![1])
        );
        assert_eq!(strip_markers("A [1, 3] et B [2][9]"), ("A et B".into(), vec![1, 3, 2, 9]));
        assert_eq!(strip_markers("tableau [x] ok"), ("tableau [x] ok".into(), vec![]));
    }

    #[test]
    fn sentences_complete_only_when_the_next_one_starts() {
        let mut b = "Le 14 mars [1]. Ensuite".to_string();
        assert_eq!(take_sentences(&mut b, false), ["Le 14 mars [1]."]);
        assert_eq!(b.trim(), "Ensuite");
        let mut b = "Prix : 3.5 k€. [2]".to_string();
        assert!(take_sentences(&mut b, false).is_empty());
        assert_eq!(take_sentences(&mut b, true), ["Prix : 3.5 k€. [2]"]);
        let mut b = "Actions :\n1. Alice rédige le plan [2].\n2. Bob".to_string();
        let got: Vec<String> = take_sentences(&mut b, false).iter().map(|s| s.trim().to_string()).collect();
        assert_eq!(got, ["Actions :", "1. Alice rédige le plan [2]."]);
        let mut b = "A. [1] B.".to_string();
        let got: Vec<String> = take_sentences(&mut b, true).iter().map(|s| s.trim().to_string()).collect();
        assert_eq!(got, ["A. [1]", "B."]);
    }

    #[test]
    fn attribution_keeps_supported_citations_and_fixes_wrong_ones() {
        // Cited [2] but only passage 1 supports the sentence.
        assert_eq!(attribute(&[2], &[0.9, 0.1], 0.5), [0]);
        // Out-of-range citation removed, nothing supports: no citation.
        assert_eq!(attribute(&[7], &[0.2, 0.1], 0.5), Vec::<usize>::new());
        // Supported citation kept as given.
        assert_eq!(attribute(&[2], &[0.9, 0.8], 0.5), [1]);
    }

    #[test]
    fn support_uses_terms_or_similarity() {
        let s = terms("La bascule aura lieu le 14 mars");
        let p = terms("Bascule du datacenter de Lyon : 14 mars à 22h");
        assert!(support(&s, &p, 0.0) >= 0.5);
        assert!(support(&s, &[], 0.90) >= 0.99);
        assert_eq!(support(&s, &[], 0.5), 0.0);
    }
}
