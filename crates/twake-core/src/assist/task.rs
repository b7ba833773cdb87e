//! An assistant's generation as a *task* on the model gateway
//! ([`Workspace::run_task`]): its material's sensitivity picks the model (or
//! refuses), the prompt is pseudonymised when the route says so, a model
//! that fails hands over to the next allowed one, and the use is logged in
//! the provenance log like an answer. Material too long for one context is
//! cut into parts whose results are merged ([`InParts`]) or summarised level
//! by level; JSON cut off by the token limit is closed ([`close_json`]).

use twake_index::ChunkView;
use twake_llm::{ChatMessage, GenEvent, GenParams, GenStats, LlmError, Role};
use twake_types::AccessPass;

use crate::engine::text::Lang;
use crate::retrieve::answer::{RouteInfo, estimate_tokens};
use crate::{CoreError, Result, Workspace};

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
            material.iter().map(crate::retrieve::answer::described).collect();
        let used: Vec<&ChunkView> = material.iter().collect();
        let routes = match crate::policy::gateway::routes(&described, &candidates) {
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
        let described: Vec<_> = material.iter().map(crate::retrieve::answer::described).collect();
        let routes = crate::policy::gateway::routes(&described, &candidates).ok()?;
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
        route: &crate::policy::gateway::Route,
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

/// The longest part of a text written in one generation, in characters.
pub(crate) const PART_CHARS: usize = 1500;

/// `text` cut at paragraph ends (or, inside a long paragraph, at sentence
/// ends) into parts of at most about [`PART_CHARS`] characters.
pub fn parts(text: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if para.chars().count() <= PART_CHARS {
            pieces.push(para.to_string());
            continue;
        }
        let mut current = String::new();
        for sentence in para.split_inclusive(['.', '!', '?']) {
            if !current.is_empty() && current.chars().count() + sentence.chars().count() > PART_CHARS {
                pieces.push(std::mem::take(&mut current).trim().to_string());
            }
            current.push_str(sentence);
        }
        if !current.trim().is_empty() {
            pieces.push(current.trim().to_string());
        }
    }
    let mut out: Vec<String> = Vec::new();
    for p in pieces {
        match out.last_mut() {
            Some(last) if last.chars().count() + p.chars().count() + 2 <= PART_CHARS => {
                last.push_str("\n\n");
                last.push_str(&p);
            }
            _ => out.push(p),
        }
    }
    out
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
}
