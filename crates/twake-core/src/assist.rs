//! Communication assistants. Each is a *task* run on the model gateway
//! ([`Workspace::run_task`]): its material's sensitivity picks the model (or
//! refuses), the prompt is pseudonymised when the route says so, a model
//! that fails hands over to the next allowed one, and the use is logged in
//! the provenance log like an answer.
//!
//! Meeting minutes ([`Workspace::minutes`]): the transcript's cues are
//! numbered, the model writes a summary, decisions and action items as JSON
//! under a grammar built from [`minutes_schema`] (so the embedded model can
//! only write that shape); a cut output is closed by [`close_json`], so the
//! result always parses. Every decision and action item points to a cue
//! that supports it (the model's cue when it does, else the best
//! supporting cue, else the item is dropped), and due dates are resolved
//! against the meeting's date ([`crate::dates`]).

use serde::Serialize;
use twake_index::ChunkView;
use twake_llm::{ChatMessage, GenEvent, GenParams, GenStats, LlmError, Role};
use twake_types::{AccessPass, SourceKind, format_ms};

use crate::answer::{RouteInfo, estimate_tokens};
use crate::dates::{Date, resolve};
use crate::text::{Lang, detect, terms};
use crate::{CoreError, Result, Workspace};

/// A mail thread to pick (see [`Workspace::recent_threads`]).
#[derive(Debug, Clone, Serialize)]
pub struct ThreadChoice {
    /// Its latest readable message's Message-ID (what the thread tools take).
    pub message_id: String,
    pub subject: String,
    pub from: String,
    pub date: Option<String>,
    /// How many of its messages the reader may read.
    pub messages: usize,
}

/// What a task produced.
#[derive(Debug, Clone)]
pub struct TaskOutput {
    pub text: String,
    pub model: String,
    pub route: RouteInfo,
    pub stats: Option<GenStats>,
    pub audit_id: i64,
}

impl TaskOutput {
    /// Prompt and completion tokens (what budgets are charged).
    pub fn tokens(&self) -> u64 {
        self.stats.as_ref().map(|s| (s.prompt_tokens + s.completion_tokens) as u64).unwrap_or(0)
    }
}

/// What an assistant's result costs: the tokens it used and their price
/// per million (a weighted mean when several models worked on it).
pub trait Charged {
    fn charge(&self) -> (u64, f64);
    /// Of the tokens charged, those generated.
    fn completion_tokens(&self) -> u64;
}

impl Charged for Minutes {
    fn charge(&self) -> (u64, f64) {
        (self.tokens, self.price_per_million)
    }
    fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }
}

impl Charged for ThreadSummary {
    fn charge(&self) -> (u64, f64) {
        (self.tokens, self.price_per_million)
    }
    fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }
}

impl Workspace {
    /// Runs one generation for an assistant on the gateway. `request`
    /// names the task in the provenance log (hashed there); `material` is
    /// every passage the prompt holds (their levels decide the model).
    /// `on_tokens` is called with the number of tokens generated so far.
    pub async fn run_task(
        &self,
        request: &str,
        material: &[ChunkView],
        messages: Vec<ChatMessage>,
        params: GenParams,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<TaskOutput> {
        let candidates = self.config.gateway.candidates().map_err(CoreError::Config)?;
        let described: Vec<(String, twake_types::Sensitivity)> =
            material.iter().map(crate::answer::described).collect();
        let used: Vec<&ChunkView> = material.iter().collect();
        let routes = match crate::gateway::routes(&described, &candidates) {
            Ok(r) => r,
            Err(why) => {
                let route = RouteInfo::not_called(&format!("refused: {why}"));
                let id = self.log_use(pass, request, &used, "", &route, None, false).await?;
                return Err(CoreError::Refused { message: why, audit_id: id });
            }
        };
        let n_routes = routes.len();
        let mut failures: Vec<String> = Vec::new();
        for (k, route) in routes.into_iter().enumerate() {
            let (model, mut info, context) = self.route_info(&route);
            let outcome = self.generate_on(&route, &messages, &params, context, pass, on_tokens).await;
            let previous = failures.join("; ");
            let decision = |d: &str| if previous.is_empty() { d.to_string() } else { format!("{previous}; {d}") };
            match outcome {
                Ok((text, stats, pseudonymised)) => {
                    info.pseudonymised = pseudonymised;
                    info.decision = decision(&info.decision);
                    let id = self.log_use(pass, request, &used, &model, &info, Some(&stats), true).await?;
                    return Ok(TaskOutput { text, model, route: info, stats: Some(stats), audit_id: id });
                }
                Err(CoreError::Llm(e)) if k + 1 < n_routes => failures.push(format!("{model} failed ({e}), fell back")),
                Err(CoreError::Llm(e)) => {
                    info.decision = decision(&format!("{}; failed: {e}", info.decision));
                    self.log_use(pass, request, &used, &model, &info, None, false).await?;
                    return Err(CoreError::Llm(e));
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("routes is never empty when Ok")
    }

    /// [`Workspace::run_task`] for a JSON answer of the given schema: the
    /// embedded model writes under the schema's grammar; a cut (or, from a
    /// remote model, malformed) text is closed by [`close_json`]. Returns
    /// the JSON, whether it had to be closed, and the task's output.
    #[allow(clippy::too_many_arguments)]
    pub async fn run_json_task(
        &self,
        request: &str,
        material: &[ChunkView],
        messages: Vec<ChatMessage>,
        schema: &serde_json::Value,
        max_tokens: u32,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(serde_json::Value, bool, TaskOutput)> {
        let grammar = twake_llm::grammar::json_schema(schema).map_err(CoreError::Other)?;
        let params = GenParams { max_tokens, grammar: Some(grammar), ..GenParams::default() };
        let out = self.run_task(request, material, messages, params, pass, on_tokens).await?;
        let text = out.text.trim();
        let truncated =
            out.stats.as_ref().is_some_and(|s| s.hit_limit) || serde_json::from_str::<serde_json::Value>(text).is_err();
        let raw = serde_json::from_str(&close_json(text)).map_err(|e| {
            CoreError::Model(format!(
                "{} did not write JSON ({e}): {}",
                out.model,
                text.chars().take(200).collect::<String>()
            ))
        })?;
        Ok((raw, truncated, out))
    }

    /// The smallest context among the models that may take `material`
    /// (`None` when none may: the task is then refused and logged).
    fn task_context(&self, material: &[ChunkView]) -> Option<u32> {
        let candidates = self.config.gateway.candidates().ok()?;
        let described: Vec<_> = material.iter().map(crate::answer::described).collect();
        let routes = crate::gateway::routes(&described, &candidates).ok()?;
        routes.iter().map(|r| self.route_info(r).2).min()
    }

    /// A JSON task over numbered units (cues, messages) in as many parts as
    /// the smallest allowed model's context needs (the *map* of
    /// map-reduce): `prompt_for(range)` builds the prompt of the units in
    /// `range` (keeping their own numbers, so citations stay those of the
    /// original), `material_for(range)` their passages, `costs` each unit's
    /// size in tokens. One part when everything fits. With `summarise`
    /// (what the units are, the language), `InParts::summary` is the one
    /// part's `summary`, or the *reduce*: a summary of the parts' summaries.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn json_in_parts(
        &self,
        request: &str,
        summarise: Option<(&str, Lang)>,
        material: &[ChunkView],
        material_for: &(dyn Fn(std::ops::Range<usize>) -> Vec<ChunkView> + Sync),
        prompt_for: &(dyn Fn(std::ops::Range<usize>) -> Vec<ChatMessage> + Sync),
        costs: &[usize],
        schema: &serde_json::Value,
        max_tokens: u32,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<InParts> {
        let context = self.task_context(material).unwrap_or(u32::MAX) as usize;
        let out_budget = (max_tokens as usize).min(context / 3).max(64);
        let overhead = estimate_tokens(&prompt_for(0..0)) + 64;
        let groups = fit_groups(costs, context.saturating_sub(out_budget + overhead));
        let mut done = InParts::default();
        let n = groups.len();
        for (k, range) in groups.into_iter().enumerate() {
            let request = if n == 1 { request.to_string() } else { format!("{request} (part {}/{n})", k + 1) };
            let part_material = if n == 1 { material.to_vec() } else { material_for(range.clone()) };
            let so_far = done.generated;
            let mut count = |t: usize| on_tokens(so_far + t);
            let (raw, truncated, out) = self
                .run_json_task(&request, &part_material, prompt_for(range), schema, out_budget as u32, pass, &mut count)
                .await?;
            done.add(&out);
            done.truncated |= truncated;
            done.raws.push(raw);
        }
        let summaries: Vec<String> =
            done.raws.iter().map(|r| r["summary"].as_str().unwrap_or("").trim().to_string()).collect();
        done.summary = match summarise {
            Some((what, lang)) if n > 1 => {
                self.reduce_summaries(request, what, &summaries, lang, material, pass, &mut done, on_tokens).await?
            }
            _ => summaries.concat(),
        };
        Ok(done)
    }

    /// The *reduce* of map-reduce: one summary of the whole from the
    /// summaries of its parts, in order. When those summaries do not fit
    /// one context together, consecutive ones that do are summarised first,
    /// level by level (a summary alone in its group goes up as it is),
    /// until one generation can take them all. Each generation has its own
    /// provenance record, with every passage of the input.
    #[allow(clippy::too_many_arguments)]
    async fn reduce_summaries(
        &self,
        request: &str,
        what: &str,
        summaries: &[String],
        lang: Lang,
        material: &[ChunkView],
        pass: &AccessPass,
        parts: &mut InParts,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<String> {
        const OUT: u32 = 220;
        let context = self.task_context(material).unwrap_or(u32::MAX) as usize;
        let overhead = estimate_tokens(&reduce_prompt(what, &[], lang)) + 64;
        let budget = context.saturating_sub(OUT as usize + overhead);
        let mut level = summaries.to_vec();
        for depth in 1.. {
            let groups = reduce_groups(&level, budget);
            let mut next = Vec::with_capacity(groups.as_ref().map_or(1, Vec::len));
            let whole = std::iter::once(0..level.len()).collect::<Vec<_>>();
            for g in groups.clone().unwrap_or(whole) {
                if groups.is_some() && g.len() == 1 {
                    next.push(level[g.start].clone());
                    continue;
                }
                let label = match groups {
                    None => format!("{request} (summary of parts)"),
                    Some(_) => format!("{request} (summary of parts, level {depth})"),
                };
                let params = GenParams { max_tokens: OUT, repeat_penalty: 1.1, ..GenParams::default() };
                let so_far = parts.generated;
                let mut count = |t: usize| on_tokens(so_far + t);
                let prompt = reduce_prompt(what, &level[g], lang);
                let out = self.run_task(&label, material, prompt, params, pass, &mut count).await?;
                parts.add(&out);
                next.push(out.text.trim().to_string());
            }
            if groups.is_none() {
                return Ok(next.concat());
            }
            level = next;
        }
        unreachable!("a level always ends the reduce or makes fewer summaries")
    }

    /// One whole generation on one route: the prompt must fit the model's
    /// context; pseudonymised and restored when the route says so. Returns
    /// the text, the statistics and how many values were pseudonymised.
    async fn generate_on(
        &self,
        route: &crate::gateway::Route,
        messages: &[ChatMessage],
        params: &GenParams,
        context: u32,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(String, GenStats, usize)> {
        let tokens = estimate_tokens(messages);
        if tokens + 64 > context as usize {
            return Err(CoreError::Llm(LlmError::PromptTooLong { tokens, ctx: context }));
        }
        let mut params = params.clone();
        params.max_tokens = params.max_tokens.min(context - tokens as u32);
        let mut messages = messages.to_vec();
        let pseudonymiser = self.pseudonymise_for(route, &mut messages, pass).await?;
        let mut rx = self.stream_on(&route.target, messages, params).await?;
        let mut text = String::new();
        let mut pieces = 0;
        while let Some(ev) = rx.recv().await {
            match ev {
                GenEvent::Text(t) => {
                    text.push_str(&t);
                    pieces += 1;
                    on_tokens(pieces);
                }
                GenEvent::Done(stats) => {
                    let n = pseudonymiser.as_ref().map(|p| p.len()).unwrap_or(0);
                    let text = match &pseudonymiser {
                        Some(p) => p.restore(&text),
                        None => text,
                    };
                    return Ok((text, stats, n));
                }
                GenEvent::Error(e) => return Err(CoreError::Llm(e)),
            }
        }
        Err(CoreError::Llm(LlmError::WorkerGone))
    }
}

/// One level of the reduce: the groups of consecutive summaries that fit
/// `budget` tokens together, each of two or more to be summarised into one
/// (a summary alone in its group goes up as it is); `None` when the next
/// generation takes them all: they fit together, or no two of them do (the
/// generation then says the prompt is too long). Each level has fewer
/// summaries than the one before.
pub(crate) fn reduce_groups(level: &[String], budget: usize) -> Option<Vec<std::ops::Range<usize>>> {
    let costs: Vec<usize> = level.iter().map(|s| (s.chars().count() + 12).div_ceil(3)).collect();
    let groups = fit_groups(&costs, budget);
    (groups.len() > 1 && groups.iter().any(|g| g.len() > 1)).then_some(groups)
}

/// The prompt that summarises consecutive summaries of `what`.
fn reduce_prompt(what: &str, summaries: &[String], lang: Lang) -> Vec<ChatMessage> {
    let listed: Vec<String> =
        summaries.iter().enumerate().map(|(i, s)| format!("Part {}: {}", i + 1, s.trim())).collect();
    let system = format!(
        "You summarise in {lang}. Use only what the summaries say; never invent a person, a figure or a date.",
        lang = lang.name()
    );
    let user = format!(
        "Summaries of the consecutive parts of {what}, in order:\n\n{}\n\n\
         Write the summary of the whole in {lang}, in two to four sentences, as plain text.",
        listed.join("\n"),
        lang = lang.name()
    );
    vec![ChatMessage { role: Role::System, content: system }, ChatMessage { role: Role::User, content: user }]
}

/// What a task run in parts produced: each part's JSON, and the sums
/// (also used to add up any task of several generations).
#[derive(Debug, Default)]
pub(crate) struct InParts {
    pub raws: Vec<serde_json::Value>,
    /// The summary of the whole (see [`Workspace::json_in_parts`]).
    pub summary: String,
    pub truncated: bool,
    pub tokens: u64,
    /// Tokens × price per million, summed (to charge each part at its price).
    pub cost: f64,
    pub generated: usize,
    pub model: String,
    pub audit_ids: Vec<i64>,
}

impl InParts {
    /// Counts one generation's tokens, cost and provenance record.
    pub fn add(&mut self, out: &TaskOutput) {
        let t = out.tokens();
        self.tokens += t;
        self.cost += t as f64 * out.route.price_per_million;
        self.generated += out.stats.as_ref().map(|s| s.completion_tokens).unwrap_or(0);
        self.model = out.model.clone();
        self.audit_ids.push(out.audit_id);
    }

    pub fn price_per_million(&self) -> f64 {
        if self.tokens == 0 { 0.0 } else { self.cost / self.tokens as f64 }
    }

    /// The parts' JSON as one: the summary, and the arrays under `keys`
    /// concatenated in order.
    pub fn merged(&self, keys: &[&str]) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("summary".into(), self.summary.as_str().into());
        for k in keys {
            let all: Vec<serde_json::Value> =
                self.raws.iter().flat_map(|r| r[*k].as_array().cloned().unwrap_or_default()).collect();
            out.insert(k.to_string(), all.into());
        }
        out.into()
    }
}

/// Consecutive groups of units (their sizes in `costs`) that each fit
/// `budget`: greedy, in order; a unit larger than the budget is a group of
/// its own. Every unit is in exactly one group.
pub fn fit_groups(costs: &[usize], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, &c) in costs.iter().enumerate() {
        if i > start && used + c > budget {
            out.push(start..i);
            (start, used) = (i, 0);
        }
        used += c;
    }
    if start < costs.len() || out.is_empty() {
        out.push(start..costs.len());
    }
    out
}

/// Closes a JSON text cut anywhere (a generation stopped by its token
/// budget) into a document that parses: an unfinished string value is
/// closed, an unfinished key, number or literal is dropped (a key's value
/// becomes `null`), a trailing comma is removed, and open arrays and
/// objects are closed. A complete document is returned unchanged. Meant
/// for prefixes of valid JSON, such as grammar-constrained output.
pub fn close_json(prefix: &str) -> String {
    if serde_json::from_str::<serde_json::Value>(prefix).is_ok() {
        return prefix.to_string();
    }
    let value_expected = |stack: &[Frame]| match stack.last() {
        None => true,
        Some(Frame::Object(s)) => *s == State::Colon,
        Some(Frame::Array(s)) => *s == State::Start || *s == State::Comma,
    };
    let after_value = |stack: &mut Vec<Frame>| match stack.last_mut() {
        Some(Frame::Object(s)) | Some(Frame::Array(s)) => *s = State::Value,
        None => {}
    };
    let bytes = prefix.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    // The last clean cut: its length and the stack there.
    let (mut safe_len, mut safe_stack) = (0usize, Vec::new());
    let mut i = 0;
    let mut done = false;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'{' | b'[' => {
                stack.push(if c == b'{' { Frame::Object(State::Start) } else { Frame::Array(State::Start) });
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                after_value(&mut stack);
                i += 1;
                done = stack.is_empty();
            }
            b':' => {
                if let Some(Frame::Object(s)) = stack.last_mut() {
                    *s = State::Colon;
                }
                i += 1;
            }
            b',' => {
                if let Some(Frame::Object(s)) | Some(Frame::Array(s)) = stack.last_mut() {
                    *s = State::Comma;
                }
                i += 1;
            }
            b'"' => {
                let is_value = value_expected(&stack);
                let mut j = i + 1;
                let mut closed = false;
                while j < bytes.len() {
                    match bytes[j] {
                        b'\\' => j += 2,
                        b'"' => {
                            closed = true;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                if !closed {
                    if !is_value {
                        break; // an unfinished key: back to the last clean cut
                    }
                    // An unfinished string value: keep its text, minus a cut escape.
                    let body = unfinished_escape_removed(&prefix[i + 1..]);
                    let mut out = format!("{}\"{}\"", &prefix[..i], body);
                    after_value(&mut stack);
                    return finish(&mut out, &stack);
                }
                if is_value {
                    after_value(&mut stack);
                } else if let Some(Frame::Object(s)) = stack.last_mut() {
                    *s = State::Key;
                }
                i = j + 1;
            }
            _ => {
                // A number or a literal: complete only if something follows it.
                let mut j = i;
                while j < bytes.len() && !b" \t\n\r,:]}".contains(&bytes[j]) {
                    j += 1;
                }
                if j == bytes.len() {
                    break;
                }
                after_value(&mut stack);
                i = j;
            }
        }
        safe_len = i;
        safe_stack.clone_from(&stack);
        if done {
            return prefix[..i].to_string();
        }
    }
    if safe_len == bytes.len() {
        let mut out = prefix.to_string();
        return finish(&mut out, &stack);
    }
    let mut out = prefix[..safe_len].to_string();
    finish(&mut out, &safe_stack)
}

/// The text of a string cut inside it, without a cut escape sequence at its
/// end (`\`, `\u00`) or a lone high surrogate (`\uD83D`).
fn unfinished_escape_removed(body: &str) -> &str {
    let b = body.as_bytes();
    let mut k = 0;
    let mut last_escape = None;
    while k < b.len() {
        if b[k] == b'\\' {
            let need = if b.get(k + 1) == Some(&b'u') { 6 } else { 2 };
            if k + need > b.len() {
                return &body[..k];
            }
            last_escape = Some(k);
            k += need;
        } else {
            k += 1;
        }
    }
    match last_escape {
        Some(k) if k + 6 == b.len() && body[k..].to_ascii_lowercase().starts_with("\\ud") => {
            let hi = u16::from_str_radix(&body[k + 2..k + 6], 16).unwrap_or(0);
            if (0xD800..0xDC00).contains(&hi) { &body[..k] } else { body }
        }
        _ => body,
    }
}

/// Completes the innermost open container's pending part, then closes
/// every open container.
fn finish(out: &mut String, stack: &[Frame]) -> String {
    match stack.last() {
        None if out.trim().is_empty() => return "null".into(),
        None => return out.clone(),
        Some(Frame::Object(State::Key)) => out.push_str(":null"),
        Some(Frame::Object(State::Colon)) => out.push_str("null"),
        Some(Frame::Object(State::Comma)) | Some(Frame::Array(State::Comma)) => {
            let t = out.trim_end().len();
            out.truncate(t);
            out.pop(); // the comma
        }
        _ => {}
    }
    for f in stack.iter().rev() {
        out.push(if matches!(f, Frame::Object(_)) { '}' } else { ']' });
    }
    out.clone()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum State {
    Start,
    Key,
    Colon,
    Value,
    Comma,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Frame {
    Object(State),
    Array(State),
}

/// One cue of a transcript, numbered from 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cue {
    pub n: usize,
    pub start_ms: u64,
    pub end_ms: u64,
    pub speaker: Option<String>,
    pub text: String,
}

/// The cues of a stored transcript body (`[00:02–00:09] Speaker: text` lines).
pub fn parse_cues(body: &str) -> Vec<Cue> {
    let time = |s: &str| -> Option<u64> {
        let parts: Vec<u64> = s.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        let secs = parts.iter().fold(0, |acc, p| acc * 60 + p);
        Some(secs * 1000)
    };
    body.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('[')?;
            let (times, text) = rest.split_once("] ")?;
            let (a, b) = times.split_once('–')?;
            let (speaker, text) = match text.split_once(": ") {
                Some((s, t)) if s.chars().count() <= 40 && !s.contains(['.', '?', '!']) => {
                    (Some(s.to_string()), t.to_string())
                }
                _ => (None, text.to_string()),
            };
            Some((time(a)?, time(b)?, speaker, text))
        })
        .enumerate()
        .map(|(i, (start_ms, end_ms, speaker, text))| Cue { n: i + 1, start_ms, end_ms, speaker, text })
        .collect()
}

/// Where an item comes from: a cue number and its start time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CueSource {
    pub cue: usize,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub decision: String,
    pub source: CueSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionItem {
    pub owner: String,
    pub task: String,
    /// The due date, resolved (`YYYY-MM-DD`), when one was said and the
    /// meeting's date is known.
    pub due: Option<String>,
    /// The due date as the model wrote it (`"le 26 février"`); empty when
    /// it wrote none (the date is then looked for in the task's words).
    pub due_text: String,
    pub source: CueSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct Minutes {
    pub path: String,
    pub title: String,
    /// The meeting's date (from `--date`, the document or its title).
    pub date: Option<String>,
    pub summary: String,
    pub decisions: Vec<Decision>,
    pub action_items: Vec<ActionItem>,
    /// Items the model wrote that no cue supports (dropped).
    pub dropped: usize,
    /// The model's output was cut by its token budget (and closed).
    pub truncated: bool,
    /// How many parts the transcript was read in (more than one when it
    /// does not fit the model's context; their summaries are summarised).
    pub parts: usize,
    pub model: String,
    /// The provenance record of the last generation (each part has its own).
    pub audit_id: i64,
    /// Prompt and completion tokens (for budgets).
    pub tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// Of `tokens`, those generated (OpenAI's `completion_tokens`).
    #[serde(skip)]
    pub completion_tokens: u64,
    /// The transcript's cues, as numbered for the model.
    #[serde(skip)]
    pub cues: Vec<Cue>,
}

/// The JSON shape the model must write (the grammar is built from it).
pub fn minutes_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "decisions": {"type": "array", "maxItems": 8, "items": {
                "type": "object",
                "properties": {"decision": {"type": "string"}, "cue": {"type": "integer"}}
            }},
            "action_items": {"type": "array", "maxItems": 12, "items": {
                "type": "object",
                "properties": {
                    "owner": {"type": "string"},
                    "task": {"type": "string"},
                    "due": {"type": "string"},
                    "cue": {"type": "integer"}
                }
            }}
        }
    })
}

fn minutes_messages(title: &str, cues: &[Cue], lang: Lang) -> Vec<ChatMessage> {
    let mut transcript = String::new();
    for c in cues {
        let who = c.speaker.as_deref().map(|s| format!("{s}: ")).unwrap_or_default();
        transcript.push_str(&format!(
            "[{}] ({}) {who}{}\n",
            c.n,
            format_ms(c.start_ms),
            crate::injection::defuse(&c.text)
        ));
    }
    let system = format!(
        "You write the minutes of meetings from their transcripts, in {lang}. You reply with JSON only. \
         Use only what the transcript says; never invent a person, a task or a date.",
        lang = lang.name()
    );
    let user = format!(
        "Transcript of \"{title}\" (numbered cues):\n\n{transcript}\n\
         Write the minutes in {lang} as JSON: \"summary\": two or three sentences; \
         \"decisions\": each decision taken, with \"cue\", the number of the cue where it was taken; \
         \"action_items\": each task someone must do, with \"owner\" (the person's name), \"task\", \
         \"due\" (the deadline in the transcript's own words, or \"\" if none was said) and \"cue\".",
        lang = lang.name()
    );
    vec![ChatMessage { role: Role::System, content: system }, ChatMessage { role: Role::User, content: user }]
}

/// The unit (a cue, a message: number and text) that supports `text` best:
/// the given one if it shares at least half as many terms with it as the
/// best one does, else the best; `None` when no unit shares any.
pub(crate) fn supporting(text: &str, given: Option<usize>, units: &[(usize, String)]) -> Option<usize> {
    let t = terms(text);
    let shared = |u: &str| {
        let ut = terms(u);
        t.iter().filter(|w| ut.contains(w)).count()
    };
    let scores: Vec<(usize, usize)> = units.iter().map(|(n, u)| (shared(u), *n)).collect();
    let &(best, n) = scores.iter().max_by_key(|(s, n)| (*s, std::cmp::Reverse(*n)))?;
    if best == 0 {
        return None;
    }
    match given.and_then(|g| scores.iter().find(|(_, n)| *n == g)) {
        Some(&(s, g)) if s * 2 >= best => Some(g),
        _ => Some(n),
    }
}

/// The dates a text names, clause by clause, read from `reference`.
fn dates_in(text: &str, reference: Date) -> Vec<Date> {
    text.split(['.', ';', '!', '?', ',', '\n']).filter_map(|clause| resolve(clause, reference)).collect()
}

/// A due date the model gave (in `said`, else in `what`), kept only when
/// the source's own text names that date: a model cannot add a deadline.
fn supported_due(said: &str, what: &str, source: &str, reference: Option<Date>) -> Option<String> {
    let reference = reference?;
    let due = resolve(if said.is_empty() { what } else { said }, reference)?;
    dates_in(source, reference).contains(&due).then(|| due.to_string())
}

/// "je", "I", "moi" or nothing as a person: the author instead.
fn person_or(who: String, author: Option<&str>) -> String {
    match author {
        Some(a) if ["", "je", "moi", "i", "me"].contains(&who.to_lowercase().as_str()) => a.to_string(),
        _ => who,
    }
}

/// Turns the model's JSON into checked minutes (see the module's doc).
pub fn check_minutes(
    raw: &serde_json::Value,
    cues: &[Cue],
    date: Option<Date>,
) -> (String, Vec<Decision>, Vec<ActionItem>, usize) {
    let source = |n: usize| {
        let c = &cues[n - 1];
        CueSource { cue: n, time: format_ms(c.start_ms) }
    };
    let str_of = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").trim().to_string();
    let cue_of = |v: &serde_json::Value| v["cue"].as_u64().map(|n| n as usize);
    let units: Vec<(usize, String)> =
        cues.iter().map(|c| (c.n, format!("{} {}", c.speaker.as_deref().unwrap_or(""), c.text))).collect();
    let mut dropped = 0;
    let mut decisions = Vec::new();
    for d in raw["decisions"].as_array().into_iter().flatten() {
        let text = str_of(d, "decision");
        if text.is_empty() {
            continue;
        }
        match supporting(&text, cue_of(d), &units) {
            Some(n) if !decisions.iter().any(|x: &Decision| x.decision == text) => {
                decisions.push(Decision { decision: text, source: source(n) })
            }
            Some(_) => {}
            None => dropped += 1,
        }
    }
    let mut items = Vec::new();
    for a in raw["action_items"].as_array().into_iter().flatten() {
        let (owner, task, due_text) = (str_of(a, "owner"), str_of(a, "task"), str_of(a, "due"));
        if task.is_empty() {
            continue;
        }
        let Some(n) = supporting(&format!("{owner} {task}"), cue_of(a), &units) else {
            dropped += 1;
            continue;
        };
        let owner = person_or(owner, cues[n - 1].speaker.as_deref());
        // Small models often leave "due" empty and write the date in the
        // task; either way the cue must name that date.
        let due = supported_due(&due_text, &task, &cues[n - 1].text, date);
        if !items.iter().any(|x: &ActionItem| x.task == task && x.owner == owner) {
            items.push(ActionItem { owner, task, due, due_text, source: source(n) });
        }
    }
    (str_of(raw, "summary"), decisions, items, dropped)
}

impl Workspace {
    /// Minutes of an ingested transcript that `pass` may read. `date` is
    /// the meeting's date (else the document's, else a `YYYY-MM-DD` in its
    /// title or path); without one, due dates stay as said.
    pub async fn minutes(
        &self,
        path: &str,
        pass: &AccessPass,
        date: Option<Date>,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Minutes> {
        let docs = self.store.readable_file_documents(path, pass).await?;
        let Some(doc) = docs.into_iter().find(|d| d.kind == SourceKind::Transcript) else {
            return Err(CoreError::NotFound(format!(
                "no transcript you may read at {path}: give the path of an ingested .vtt or .srt file as `twake-ai search` shows it"
            )));
        };
        let cues = parse_cues(&doc.body);
        let material = self.store.doc_chunks(doc.doc_id, pass).await?;
        let date = date
            .or_else(|| doc.date.as_deref().and_then(Date::find_iso))
            .or_else(|| Date::find_iso(&doc.title))
            .or_else(|| Date::find_iso(path));
        let lang = detect(&doc.body);
        let request = format!("minutes of {path}");
        let title = doc.title.clone();
        let costs: Vec<usize> = cues
            .iter()
            .map(|c| (c.text.chars().count() + c.speaker.as_deref().map_or(0, str::len) + 16).div_ceil(3))
            .collect();
        let prompt_for = |r: std::ops::Range<usize>| minutes_messages(&title, &cues[r], lang);
        // A part's passages: the transcript windows that overlap its cues.
        let material_for = |r: std::ops::Range<usize>| {
            let (from, to) = (cues[r.start].start_ms, cues[r.end - 1].end_ms);
            let mine: Vec<ChunkView> = material
                .iter()
                .filter(|c| matches!(c.locator, twake_types::Locator::Cue { start_ms, end_ms } if start_ms <= to && end_ms >= from))
                .cloned()
                .collect();
            if mine.is_empty() { material.clone() } else { mine }
        };
        let what = format!("the meeting \"{title}\"");
        let parts = self
            .json_in_parts(
                &request,
                Some((&what, lang)),
                &material,
                &material_for,
                &prompt_for,
                &costs,
                &minutes_schema(),
                900,
                pass,
                on_tokens,
            )
            .await?;
        let raw = parts.merged(&["decisions", "action_items"]);
        let (summary, decisions, action_items, dropped) = check_minutes(&raw, &cues, date);
        Ok(Minutes {
            cues,
            path: path.to_string(),
            title: doc.title,
            date: date.map(|d| d.to_string()),
            summary,
            decisions,
            action_items,
            dropped,
            truncated: parts.truncated,
            parts: parts.raws.len(),
            tokens: parts.tokens,
            price_per_million: parts.price_per_million(),
            completion_tokens: parts.generated as u64,
            model: parts.model.clone(),
            audit_id: *parts.audit_ids.last().expect("one part at least"),
        })
    }
}

/// One message of a summarised thread, numbered from 1, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadMessage {
    pub n: usize,
    pub message_id: Option<String>,
    pub from: String,
    /// The sender's address (`from` is the display name).
    #[serde(skip)]
    pub address: String,
    pub date: Option<String>,
    pub path: String,
    #[serde(skip)]
    pub text: String,
}

/// A point of a thread: who (for questions), what, by when (for open
/// points) and the message it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// The message's number in `messages`.
    pub message: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadSummary {
    pub subject: String,
    pub messages: Vec<ThreadMessage>,
    pub summary: String,
    pub asked: Vec<Point>,
    pub decided: Vec<Point>,
    pub open: Vec<Point>,
    pub dropped: usize,
    pub truncated: bool,
    /// How many parts the thread was read in (see [`Minutes::parts`]).
    pub parts: usize,
    pub model: String,
    /// The provenance record of the last generation (each part has its own).
    pub audit_id: i64,
    pub tokens: u64,
    #[serde(skip)]
    pub price_per_million: f64,
    /// Of `tokens`, those generated (OpenAI's `completion_tokens`).
    #[serde(skip)]
    pub completion_tokens: u64,
}

/// The JSON shape of a thread summary.
pub fn thread_schema() -> serde_json::Value {
    let point = |fields: &[&str]| {
        let mut props = serde_json::Map::new();
        for f in fields {
            props.insert(f.to_string(), serde_json::json!({"type": "string"}));
        }
        props.insert("message".into(), serde_json::json!({"type": "integer"}));
        serde_json::json!({"type": "array", "maxItems": 8, "items": {"type": "object", "properties": props}})
    };
    serde_json::json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "asked": point(&["who", "what"]),
            "decided": point(&["what"]),
            "open": point(&["what", "due"])
        }
    })
}

/// The address of `Name <address>` (or of a bare address).
fn address_of(author: &str) -> String {
    match author.split_once('<') {
        Some((_, addr)) => addr.trim_end_matches('>').trim().to_string(),
        None => author.trim().to_string(),
    }
}

/// A display name from `Name <address>`.
pub(crate) fn display_name(author: &str) -> String {
    match author.split_once('<') {
        Some((name, _)) if !name.trim().is_empty() => name.trim().trim_matches('"').to_string(),
        Some((_, addr)) => addr.trim_end_matches('>').to_string(),
        None => author.trim().to_string(),
    }
}

/// The messages of a thread as the prompt shows them: `[n] From: name, date`
/// and the text.
pub(crate) fn numbered_thread(messages: &[ThreadMessage]) -> String {
    let mut thread = String::new();
    for m in messages {
        let date = m.date.as_deref().map(|d| format!(", {}", &d[..d.len().min(10)])).unwrap_or_default();
        thread.push_str(&format!("[{}] From: {}{date}\n{}\n\n", m.n, m.from, crate::injection::defuse(m.text.trim())));
    }
    thread
}

fn thread_messages(subject: &str, messages: &[ThreadMessage], lang: Lang) -> Vec<ChatMessage> {
    let thread = numbered_thread(messages);
    let system = format!(
        "You summarise e-mail threads in {lang}. You reply with JSON only. \
         Use only what the messages say; never invent a person, a decision or a date.",
        lang = lang.name()
    );
    let user = format!(
        "E-mail thread \"{subject}\" (numbered messages, oldest first):\n\n{thread}\
         Summarise it in {lang} as JSON: \"summary\": two or three sentences; \
         \"asked\": each question or request, with \"who\" asked it, \"what\" (one full sentence saying what was asked) \
         and \"message\" (its number); \
         \"decided\": each decision, with \"what\" (one full sentence) and \"message\"; \
         \"open\": each request or question nobody has answered yet, with \"what\" (one full sentence), \
         \"due\" (its deadline in the messages' own words, or \"\" if none) and \"message\".",
        lang = lang.name()
    );
    vec![ChatMessage { role: Role::System, content: system }, ChatMessage { role: Role::User, content: user }]
}

/// Turns the model's JSON into checked points: each points to a message
/// that supports it, or is dropped; who asked is that message's author; a
/// due date is kept when that message names it, resolved against its date.
pub fn check_thread(raw: &serde_json::Value, messages: &[ThreadMessage]) -> (String, [Vec<Point>; 3], usize) {
    let units: Vec<(usize, String)> = messages.iter().map(|m| (m.n, format!("{} {}", m.from, m.text))).collect();
    let str_of = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").trim().to_string();
    let mut dropped = 0;
    let mut out: [Vec<Point>; 3] = Default::default();
    for (k, key) in ["asked", "decided", "open"].into_iter().enumerate() {
        for p in raw[key].as_array().into_iter().flatten() {
            let what = str_of(p, "what");
            if what.is_empty() {
                continue;
            }
            let given = p["message"].as_u64().map(|n| n as usize);
            let Some(n) = supporting(&what, given, &units) else {
                dropped += 1;
                continue;
            };
            let msg = &messages[n - 1];
            // Who asked is the author of the message that asks.
            let who = (key == "asked").then(|| msg.from.clone());
            let reference = msg.date.as_deref().and_then(Date::find_iso);
            let due = (key == "open").then(|| supported_due(&str_of(p, "due"), &what, &msg.text, reference)).flatten();
            if !out[k].iter().any(|x| x.what == what) {
                out[k].push(Point { who, what, due, message: n });
            }
        }
    }
    (str_of(raw, "summary"), out, dropped)
}

impl Workspace {
    /// The readable messages of the thread of `message_id` (with or
    /// without `<>`), oldest first: its subject, the messages (the sender's
    /// own text, quotes and signature stripped at ingestion) and their
    /// passages.
    pub(crate) async fn thread_of(
        &self,
        message_id: &str,
        pass: &AccessPass,
    ) -> Result<(String, Vec<ThreadMessage>, Vec<ChunkView>)> {
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let docs = self.store.thread_documents(id, pass).await?;
        if docs.is_empty() {
            return Err(CoreError::NotFound(format!(
                "no message you may read has the Message-ID <{id}>: `twake-ai search --json` shows the message_id of mails"
            )));
        }
        let mut material = Vec::new();
        let mut messages = Vec::new();
        for (i, d) in docs.iter().enumerate() {
            let chunks = self.store.doc_chunks(d.doc_id, pass).await?;
            // Without the subject and From header lines of each passage.
            let text: Vec<&str> = chunks
                .iter()
                .filter(|c| c.locator == twake_types::Locator::Message)
                .map(|c| c.text.split_once("\n\n").map(|(_, t)| t).unwrap_or(&c.text))
                .collect();
            messages.push(ThreadMessage {
                n: i + 1,
                message_id: d.message_id.clone(),
                from: d.author.as_deref().map(display_name).unwrap_or_default(),
                address: d.author.as_deref().map(address_of).unwrap_or_default(),
                date: d.date.clone(),
                path: d.path.clone(),
                text: text.join("\n"),
            });
            material.extend(chunks.into_iter().filter(|c| c.locator == twake_types::Locator::Message));
        }
        Ok((docs[0].title.clone(), messages, material))
    }

    /// The latest mail threads `pass` may read, newest first, at most
    /// `limit`: what a person picks from instead of typing a Message-ID.
    /// A thread is named by its latest readable message.
    pub async fn recent_threads(&self, pass: &AccessPass, limit: usize) -> Result<Vec<ThreadChoice>> {
        let docs = self.store.kind_documents(SourceKind::Mail, "", true, pass, 2000).await?;
        let mut out: Vec<ThreadChoice> = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        // Oldest first: a later message of a thread replaces its choice.
        for d in docs {
            let Some(message_id) = d.message_id.clone() else { continue };
            let thread = d.thread_id.clone().unwrap_or_else(|| message_id.clone());
            let choice = ThreadChoice {
                message_id,
                subject: d.title.clone(),
                from: d.author.as_deref().map(display_name).unwrap_or_default(),
                date: d.date.clone(),
                messages: 1,
            };
            match seen.get(&thread) {
                Some(&i) => out[i] = ThreadChoice { messages: out[i].messages + 1, ..choice },
                None => {
                    seen.insert(thread, out.len());
                    out.push(choice);
                }
            }
        }
        out.sort_by(|a, b| b.date.cmp(&a.date));
        out.truncate(limit);
        Ok(out)
    }

    /// The chat rooms `pass` may read (by name).
    pub async fn readable_rooms(&self, pass: &AccessPass) -> Result<Vec<String>> {
        Ok(self.store.readable_titles(SourceKind::Chat, pass).await?)
    }

    /// Summary of the mail thread of `message_id` (with or without `<>`),
    /// from the messages of that thread that `pass` may read.
    pub async fn summarize_thread(
        &self,
        message_id: &str,
        pass: &AccessPass,
        on_tokens: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ThreadSummary> {
        let (subject, messages, material) = self.thread_of(message_id, pass).await?;
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let lang = detect(&messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>().join(" "));
        let request = format!("summary of thread <{id}>");
        // Units of the map: messages, a long one cut into pieces that keep
        // its number.
        let units: Vec<ThreadMessage> = messages
            .iter()
            .flat_map(|m| {
                let pieces = crate::writing::parts(&m.text);
                let pieces = if pieces.is_empty() { vec![String::new()] } else { pieces };
                pieces.into_iter().map(|text| ThreadMessage { text, ..m.clone() })
            })
            .collect();
        let costs: Vec<usize> =
            units.iter().map(|u| (u.text.chars().count() + u.from.len() + 24).div_ceil(3)).collect();
        let prompt_for = |r: std::ops::Range<usize>| thread_messages(&subject, &units[r], lang);
        let material_for = |r: std::ops::Range<usize>| {
            let ids: Vec<&Option<String>> = units[r].iter().map(|u| &u.message_id).collect();
            material.iter().filter(|c| ids.contains(&&c.message_id)).cloned().collect::<Vec<_>>()
        };
        let what = format!("the e-mail thread \"{subject}\"");
        let parts = self
            .json_in_parts(
                &request,
                Some((&what, lang)),
                &material,
                &material_for,
                &prompt_for,
                &costs,
                &thread_schema(),
                700,
                pass,
                on_tokens,
            )
            .await?;
        let raw = parts.merged(&["asked", "decided", "open"]);
        let (summary, [asked, decided, open], dropped) = check_thread(&raw, &messages);
        Ok(ThreadSummary {
            subject,
            messages,
            summary,
            asked,
            decided,
            open,
            dropped,
            truncated: parts.truncated,
            parts: parts.raws.len(),
            tokens: parts.tokens,
            price_per_million: parts.price_per_million(),
            completion_tokens: parts.generated as u64,
            model: parts.model.clone(),
            audit_id: *parts.audit_ids.last().expect("one part at least"),
        })
    }
}

impl ThreadSummary {
    pub fn to_markdown(&self) -> String {
        let mut s = format!("# {} ({} messages)\n\n{}\n", self.subject, self.messages.len(), self.summary);
        for (title, points) in [("Asked", &self.asked), ("Decided", &self.decided), ("Still open", &self.open)] {
            if points.is_empty() {
                continue;
            }
            s.push_str(&format!("\n## {title}\n\n"));
            for p in points {
                let who = p.who.as_deref().map(|w| format!("{w}: ")).unwrap_or_default();
                let due = p.due.as_deref().map(|d| format!(" (due {d})")).unwrap_or_default();
                s.push_str(&format!("- {who}{}{due} [{}]\n", p.what, p.message));
            }
        }
        s.push('\n');
        for m in &self.messages {
            let date = m.date.as_deref().map(|d| format!(", {}", &d[..d.len().min(10)])).unwrap_or_default();
            let id = m.message_id.as_deref().map(|i| format!(" <{i}>")).unwrap_or_default();
            s.push_str(&format!("[{}] {}{date}{id}\n", m.n, m.from));
        }
        s.push_str(&format!("\n_{} · provenance record {}_\n", self.model, self.audit_id));
        s
    }
}

impl Minutes {
    pub fn to_markdown(&self) -> String {
        let mut s = format!("# {}", self.title);
        if let Some(d) = &self.date {
            s.push_str(&format!(" ({d})"));
        }
        s.push_str(&format!("\n\n{}\n", self.summary));
        if !self.decisions.is_empty() {
            s.push_str("\n## Decisions\n\n");
            for d in &self.decisions {
                s.push_str(&format!("- {} (cue {}, {})\n", d.decision, d.source.cue, d.source.time));
            }
        }
        if !self.action_items.is_empty() {
            s.push_str("\n## Action items\n\n| Owner | Task | Due | Source |\n|---|---|---|---|\n");
            for a in &self.action_items {
                let due = match (&a.due, a.due_text.is_empty()) {
                    (Some(d), true) => d.clone(),
                    (Some(d), false) => format!("{d} ({})", a.due_text),
                    (None, false) => a.due_text.clone(),
                    (None, true) => String::new(),
                };
                let cell = |t: &str| t.replace('|', "\\|");
                s.push_str(&format!(
                    "| {} | {} | {} | cue {}, {} |\n",
                    cell(&a.owner),
                    cell(&a.task),
                    cell(&due),
                    a.source.cue,
                    a.source.time
                ));
            }
        }
        s.push_str(&format!("\n_{} · provenance record {}_\n", self.model, self.audit_id));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The levels of the reduce with a fake summariser (a unit test of the
    /// grouping logic, no model): it joins the first word of each summary.
    #[test]
    fn summaries_too_many_for_one_context_are_reduced_level_by_level_in_order() {
        let fake = |group: &[String]| {
            let heads: Vec<&str> = group.iter().map(|s| s.split(' ').next().unwrap()).collect();
            format!("{} {}", heads.join("+"), "y".repeat(20))
        };
        // Ten summaries of 12 tokens each ((24 + 12) / 3), a budget of 40:
        // three fit together.
        let mut level: Vec<String> = (0..10).map(|i| format!("s{i:02} {}", "x".repeat(20))).collect();
        let mut calls_per_level = Vec::new();
        while let Some(groups) = reduce_groups(&level, 40) {
            let mut calls = 0;
            let mut next = Vec::new();
            for g in groups {
                let cost: usize = level[g.clone()].iter().map(|s| (s.chars().count() + 12).div_ceil(3)).sum();
                assert!(g.len() == 1 || cost <= 40, "a group fits the budget");
                if g.len() == 1 {
                    next.push(level[g.start].clone());
                } else {
                    calls += 1;
                    next.push(fake(&level[g]));
                }
            }
            assert!(next.len() < level.len(), "each level has fewer summaries");
            calls_per_level.push(calls);
            level = next;
        }
        // 3 + 3 + 3 + 1 (the last goes up as it is), then 2 + 2, then the last call.
        assert_eq!(calls_per_level, [3, 2]);
        let out = fake(&level);
        let heads: Vec<String> = out.split(' ').next().unwrap().split('+').map(str::to_string).collect();
        let expected: Vec<String> = (0..10).map(|i| format!("s{i:02}")).collect();
        assert_eq!(heads, expected, "every summary reaches the last one, in order: {out}");
        // Summaries that fit together, or no two of which do: the last call at once.
        assert_eq!(reduce_groups(&["a".into(), "b".into()], 40), None);
        assert_eq!(reduce_groups(&["x".repeat(100), "x".repeat(100)], 40), None);
    }

    #[test]
    fn groups_are_consecutive_fit_their_budget_and_cover_every_unit() {
        assert_eq!(fit_groups(&[100, 100, 100], 1000), vec![0..3], "everything fits: one part");
        assert_eq!(fit_groups(&[100, 100, 100], 200), vec![0..2, 2..3]);
        assert_eq!(fit_groups(&[50, 500, 50], 200), vec![0..1, 1..2, 2..3], "a unit too large stands alone");
        assert_eq!(fit_groups(&[], 200), vec![0..0]);
        proptest::proptest!(|(costs in proptest::collection::vec(1usize..400, 1..60), budget in 1usize..1500)| {
            let groups = fit_groups(&costs, budget);
            let mut next = 0;
            for g in &groups {
                proptest::prop_assert_eq!(g.start, next);
                proptest::prop_assert!(g.end > g.start);
                let sum: usize = costs[g.clone()].iter().sum();
                proptest::prop_assert!(sum <= budget || g.len() == 1, "{:?} {}", g, sum);
                next = g.end;
            }
            proptest::prop_assert_eq!(next, costs.len());
        });
    }
    use proptest::prelude::*;

    #[test]
    fn cues_are_parsed_from_the_stored_body() {
        let body =
            "[00:02–00:09] Claire Dubois: Bonjour à tous. Premier point.\n[01:00:38–01:00:47] Oui, je rédige le plan.";
        let cues = parse_cues(body);
        assert_eq!(cues.len(), 2);
        assert_eq!((cues[0].n, cues[0].start_ms, cues[0].speaker.as_deref()), (1, 2000, Some("Claire Dubois")));
        assert_eq!((cues[1].start_ms, cues[1].speaker.as_deref()), (3_638_000, None));
    }

    #[test]
    fn closing_cut_json() {
        let cases = [
            (r#"{"summary": "La réun"#, serde_json::json!({"summary": "La réun"})),
            (r#"{"summary": "x", "decis"#, serde_json::json!({"summary": "x"})),
            (r#"{"summary": "x", "decisions":"#, serde_json::json!({"summary": "x", "decisions": null})),
            (r#"{"a": [1, 2, "#, serde_json::json!({"a": [1, 2]})),
            (r#"{"a": [{"cue": 12"#, serde_json::json!({"a": [{"cue": null}]})),
            (r#"{"a": "x\"#, serde_json::json!({"a": "x"})),
            (r#"{"a": "x\u00e"#, serde_json::json!({"a": "x"})),
            (r#"{"a": tru"#, serde_json::json!({"a": null})),
            (r#"{"a": 1} trailing"#, serde_json::json!({"a": 1})),
            ("", serde_json::Value::Null),
        ];
        for (cut, want) in cases {
            let closed = close_json(cut);
            let got: serde_json::Value =
                serde_json::from_str(&closed).unwrap_or_else(|e| panic!("{cut:?} → {closed:?}: {e}"));
            assert_eq!(got, want, "{cut:?} → {closed:?}");
        }
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i32>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            "[a-zé \"\\\\\n\t/]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z\"]{0,6}", inner, 0..5)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]
        /// Whatever the document and wherever it is cut, the closed text
        /// parses; the uncut document is left as it is.
        #[test]
        fn any_cut_of_any_json_closes_into_json(v in json(), pretty in any::<bool>(), cut in any::<prop::sample::Index>()) {
            let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
            prop_assert_eq!(close_json(&text), text.clone());
            let bounds: Vec<usize> = (0..=text.len()).filter(|i| text.is_char_boundary(*i)).collect();
            let at = bounds[cut.index(bounds.len())];
            let closed = close_json(&text[..at]);
            prop_assert!(serde_json::from_str::<serde_json::Value>(&closed).is_ok(), "{:?} → {:?}", &text[..at], closed);
        }
    }

    #[test]
    fn items_point_to_supporting_cues_and_dates_resolve() {
        let cues = parse_cues(
            "[00:27–00:38] Claire Dubois: Décision : Claire valide le plan de retour arrière avant le 5 mars.\n\
             [00:38–00:47] Alice Martin: Oui, je rédige le plan de retour arrière et je l'envoie au plus tard le 26 février.\n\
             [00:47–00:58] Claire Dubois: Le dépassement de 40 000 euros sur le câblage est accepté.",
        );
        let raw = serde_json::json!({
            "summary": "Point d'étape.",
            "decisions": [
                {"decision": "Dépassement de 40 000 euros sur le câblage accepté", "cue": 1},
                {"decision": "Le siège déménage à Paris", "cue": 2}
            ],
            "action_items": [
                {"owner": "je", "task": "Rédiger le plan de retour arrière", "due": "au plus tard le 26 février", "cue": 2},
                {"owner": "Claire Dubois", "task": "Valider le plan de retour arrière", "due": "avant le 5 mars", "cue": 99},
                {"owner": "Bob", "task": "Commander des pizzas", "due": "", "cue": 1}
            ]
        });
        let (summary, decisions, items, dropped) = check_minutes(&raw, &cues, Date::new(2026, 11, 20));
        assert_eq!(summary, "Point d'étape.");
        assert_eq!(decisions.len(), 1, "the unsupported decision is dropped: {decisions:?}");
        assert_eq!(
            decisions[0].source,
            CueSource { cue: 3, time: "00:47".into() },
            "moved to the cue that supports it"
        );
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].owner.as_str(), items[0].due.as_deref()), ("Alice Martin", Some("2027-02-26")));
        assert_eq!((items[1].source.cue, items[1].due.as_deref()), (1, Some("2027-03-05")), "cue 99 does not exist");
        assert_eq!(dropped, 2);
        let (_, _, items, _) = check_minutes(&raw, &cues, None);
        assert_eq!(items[0].due, None, "no meeting date: the due date stays as said");
        let raw = serde_json::json!({"action_items": [{"owner": "Alice", "task": "Envoyer le plan de retour arrière le 26 février", "due": "", "cue": 2}]});
        let (_, _, items, _) = check_minutes(&raw, &cues, Date::new(2026, 11, 20));
        assert_eq!(items[0].due.as_deref(), Some("2027-02-26"), "a date written in the task is found");
    }

    #[test]
    fn thread_points_point_to_supporting_messages_and_due_dates_use_their_message() {
        let msg = |n: usize, from: &str, date: &str, text: &str| ThreadMessage {
            n,
            message_id: Some(format!("m{n}@x")),
            from: from.into(),
            address: String::new(),
            date: Some(date.into()),
            path: "t.mbox".into(),
            text: text.into(),
        };
        let messages = vec![
            msg(
                1,
                "Claire Dubois",
                "2026-11-02T09:12:00+01:00",
                "La bascule aura lieu le 14 mars. Merci de me faire part de vos contraintes avant vendredi.",
            ),
            msg(
                2,
                "Alice Martin",
                "2026-11-02T11:40:00+01:00",
                "La date nous convient. Les 48 commutateurs doivent être installés trois semaines avant.",
            ),
        ];
        let raw = serde_json::json!({
            "summary": "Bascule le 14 mars.",
            "asked": [{"who": "Alice Martin", "what": "Faire part de vos contraintes", "message": 2}],
            "decided": [{"what": "La bascule aura lieu le 14 mars", "message": 1}, {"what": "Licencier tout le monde", "message": 1}],
            "open": [
                {"what": "Contraintes à remonter", "due": "avant vendredi", "message": 1},
                {"what": "Installer les 48 commutateurs", "due": "demain", "message": 2}
            ]
        });
        let (summary, [asked, decided, open], dropped) = check_thread(&raw, &messages);
        assert_eq!(summary, "Bascule le 14 mars.");
        assert_eq!(
            asked,
            vec![Point {
                who: Some("Claire Dubois".into()),
                what: "Faire part de vos contraintes".into(),
                due: None,
                message: 1
            }]
        );
        assert_eq!(decided.len(), 1);
        assert_eq!(dropped, 1);
        assert_eq!(open[0].due.as_deref(), Some("2026-11-06"), "the Friday after Monday 2 November");
        assert_eq!(open[1].due, None, "message 2 names no such date: the model cannot add one");
        assert_eq!(display_name("\"Bob Leroy\" <bob@x.fr>"), "Bob Leroy");
        assert_eq!(display_name("<bob@x.fr>"), "bob@x.fr");
    }

    #[test]
    fn markdown_has_the_action_item_table() {
        let m = Minutes {
            path: "m.vtt".into(),
            title: "Comité".into(),
            date: Some("2026-11-20".into()),
            summary: "Résumé.".into(),
            decisions: vec![Decision {
                decision: "Date confirmée".into(),
                source: CueSource { cue: 2, time: "00:09".into() },
            }],
            action_items: vec![ActionItem {
                owner: "Alice Martin".into(),
                task: "Plan | retour".into(),
                due: Some("2027-02-26".into()),
                due_text: "le 26 février".into(),
                source: CueSource { cue: 5, time: "00:38".into() },
            }],
            dropped: 0,
            parts: 1,
            truncated: false,
            model: "m".into(),
            audit_id: 7,
            tokens: 0,
            price_per_million: 0.0,
            completion_tokens: 0,
            cues: vec![],
        };
        let md = m.to_markdown();
        assert!(md.starts_with("# Comité (2026-11-20)\n\nRésumé.\n"), "{md}");
        assert!(md.contains("- Date confirmée (cue 2, 00:09)"), "{md}");
        assert!(md.contains("| Alice Martin | Plan \\| retour | 2027-02-26 (le 26 février) | cue 5, 00:38 |"), "{md}");
    }
}
