//! `twake-ai audit …`: the signed provenance log.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use twake_core::Workspace;
use twake_core::engine::dates::{civil_from_days, days_from_civil};
use twake_core::policy::audit::{AuditFilter, public_key};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the chain and every signature; exit code 5 when anything is wrong.
    Verify {
        /// The installation's public key (hex, from `audit key`); default: read from the data directory.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Records, oldest first, filtered.
    Show {
        #[arg(long)]
        user: Option<String>,
        /// From this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Up to this day included (YYYY-MM-DD, UTC).
        #[arg(long)]
        until: Option<String>,
        /// Part of the model's name.
        #[arg(long)]
        model: Option<String>,
        /// A document's path (or part of it) among the passages used.
        #[arg(long)]
        document: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the installation's public key (give it to auditors).
    Key,
}

pub fn parse_day(s: &str) -> Result<i64> {
    let parts: Vec<&str> = s.split('-').collect();
    let bad = || format!("invalid date {s:?}: use YYYY-MM-DD");
    if parts.len() != 3 {
        bail!(bad());
    }
    let (y, m, d): (i64, i64, i64) =
        (parts[0].parse().with_context(bad)?, parts[1].parse().with_context(bad)?, parts[2].parse().with_context(bad)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!(bad());
    }
    Ok(days_from_civil(y, m, d) * 86_400)
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_time(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", s / 3600, (s / 60) % 60, s % 60)
}

pub async fn run(command: AuditCommand, ws: &Workspace) -> Result<ExitCode> {
    match command {
        AuditCommand::Key => {
            println!("{}", ws.audit_public_key()?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { public_key: pk } => {
            let key = pk.as_deref().map(public_key).transpose()?;
            let v = ws.audit_verify(key).await?;
            if v.problems.is_empty() {
                println!("audit log intact: {} records, chain and signatures verified", v.records);
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &v.problems {
                    println!("record {}: {}", p.seq, p.what);
                }
                println!("audit log NOT intact: {} problem(s) in {} records", v.problems.len(), v.records);
                Ok(ExitCode::from(5))
            }
        }
        AuditCommand::Show { user, since, until, model, document, json } => {
            let filter = AuditFilter {
                user,
                since: since.as_deref().map(parse_day).transpose()?,
                until: until.as_deref().map(|d| parse_day(d).map(|t| t + 86_399)).transpose()?,
                model,
                document,
            };
            let records = ws.audit_show(&filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "records": records }))?);
            } else {
                for r in &records {
                    println!(
                        "#{} {} {} — {} ({}, {}) — {} passage(s), {}+{} tokens — {}",
                        r.seq,
                        format_time(r.at),
                        r.user,
                        r.model,
                        r.endpoint,
                        r.jurisdiction,
                        r.passages.len(),
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.decision
                    );
                    for p in &r.passages {
                        let loc = if p.locator.is_empty() { String::new() } else { format!(", {}", p.locator) };
                        println!("    {}{loc} [{}] sha256 {}", p.path, p.sensitivity, &p.content_sha256[..16]);
                    }
                }
                if records.is_empty() {
                    println!("no record");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_day("1970-01-01").unwrap(), 0);
        assert_eq!(parse_day("2026-11-29").unwrap(), 1_795_910_400);
        assert_eq!(format_time(1_795_910_400 + 3661), "2026-11-29 01:01:01 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert!(parse_day("29/11/2026").is_err());
    }
}
