//! `twake-ai draft-reply`, `rewrite`, `translate` and `triage`: the writing
//! assistants (see `twake_core::assist::writing`) and inbox triage.

use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use indicatif::ProgressBar;
use twake_core::Workspace;
use twake_core::assist::task::Charged;
use twake_core::assist::writing::{Language, Tone};
use twake_types::Sensitivity;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DraftFormat {
    /// The draft with its addressee and subject, and what to check.
    Text,
    Json,
    /// A message file (RFC 5322) to open in a mail client; not sent.
    Eml,
}

fn language(code: Option<&str>) -> Result<Option<Language>> {
    code.map(|c| Language::parse(c).map_err(|e| anyhow!("--lang/--to: {e}"))).transpose()
}

fn level(s: Option<&str>) -> Result<Option<Sensitivity>> {
    s.map(|l| {
        Sensitivity::parse(l)
            .ok_or_else(|| anyhow!("--sensitivity {l:?}: use public, internal, confidential or secret"))
    })
    .transpose()
}

/// Runs an assistant under the user's budgets (checked before, charged
/// after with what it used), with a spinner saying `what` and the tokens
/// written so far.
pub async fn budgeted<T, Fut>(
    ws: &Workspace,
    pass: &twake_types::AccessPass,
    what: &'static str,
    run: impl FnOnce(Box<dyn FnMut(usize) + Send>) -> Fut,
) -> Result<T>
where
    Fut: std::future::Future<Output = twake_core::Result<T>>,
    T: Charged,
{
    let who = twake_core::policy::quota::Requester { pass, key: None };
    ws.quota_check(&who).await?;
    let spinner = ProgressBar::new_spinner().with_message(format!("{what}…"));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let bar = spinner.clone();
    let out = run(Box::new(move |n| bar.set_message(format!("{what}… {n} tokens")))).await;
    spinner.finish_and_clear();
    let out = out?;
    let (tokens, price) = out.charge();
    ws.quota_charge(&who, tokens, price).await?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub async fn draft_reply(
    ws: &Workspace,
    user: &twake_types::Principal,
    message_id: &str,
    lang: Option<&str>,
    tone: &str,
    points: &[String],
    format: DraftFormat,
) -> Result<ExitCode> {
    let lang = language(lang)?;
    let tone = Tone::parse(tone).map_err(|e| anyhow!("--tone: {e}"))?;
    let pass = ws.pass_for(user).await?;
    let p = &pass;
    let draft = budgeted(ws, p, "drafting the reply", |mut on| async move {
        ws.draft_reply(message_id, lang, tone, points, p, &mut *on).await
    })
    .await?;
    match format {
        DraftFormat::Text => print!("{}", draft.to_text()),
        DraftFormat::Json => println!("{}", serde_json::to_string_pretty(&draft)?),
        DraftFormat::Eml => print!("{}", draft.to_eml(user.as_str())),
    }
    Ok(ExitCode::SUCCESS)
}

/// `rewrite` (tone given) and `translate` (language given).
pub async fn rewrite(
    ws: &Workspace,
    user: &twake_types::Principal,
    text: Option<String>,
    to: Option<&str>,
    tone: Option<&str>,
    sensitivity: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let to = language(to)?;
    let tone = tone.map(|t| Tone::parse(t).map_err(|e| anyhow!("--tone: {e}"))).transpose()?;
    let at_least = level(sensitivity)?;
    let text = match text {
        Some(t) if t != "-" => t,
        _ => std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?,
    };
    if text.trim().is_empty() {
        anyhow::bail!("there is no text: give it as an argument or on standard input");
    }
    let pass = ws.pass_for(user).await?;
    let (p, text) = (&pass, &text);
    let what = if tone.is_some() { "rewriting" } else { "translating" };
    let out =
        budgeted(ws, p, what, |mut on| async move { ws.rewrite(text, to, tone, at_least, p, &mut *on).await }).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", out.text);
        if !out.missing.is_empty() {
            eprintln!("! not kept from the text, check: {}", out.missing.join(" · "));
        }
        if !out.added.is_empty() {
            eprintln!("! not in the text, check: {}", out.added.join(" · "));
        }
        let ids: Vec<String> = out.audit_ids.iter().map(i64::to_string).collect();
        eprintln!("{} · {} · provenance record {}", out.model, out.sensitivity.as_str(), ids.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// A day from `YYYY-MM-DD` or `Nd` (N days before `today`).
pub fn since_day(s: &str, today: twake_core::engine::dates::Date) -> Result<twake_core::engine::dates::Date> {
    let s = s.trim();
    if let Some(n) = s.strip_suffix('d').and_then(|n| n.parse::<i64>().ok()).filter(|n| *n >= 0) {
        // Checked, and never before 1970: "99999999999d" is since the beginning.
        return Ok(twake_core::engine::dates::Date::from_days(today.days().checked_sub(n).unwrap_or(0).max(0)));
    }
    twake_core::engine::dates::Date::find_iso(s)
        .filter(|_| s.len() == 10)
        .ok_or_else(|| anyhow!("--since {s:?}: give a day as YYYY-MM-DD or a number of days back such as 7d"))
}

pub async fn triage(ws: &Workspace, user: &twake_types::Principal, since: &str, json: bool) -> Result<ExitCode> {
    let today = ws.today();
    let since = since_day(since, today)?;
    let pass = ws.pass_for(user).await?;
    let p = &pass;
    let out =
        budgeted(ws, p, "triaging the inbox", |mut on| async move { ws.triage(since, p, &mut *on).await }).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", out.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
