//! Quotas and budgets: tokens per UTC day and cost per calendar month, per
//! user (`[quotas]`), per group (`[[quotas.groups]]`, shared by its
//! members) and per API key (`keys create --tokens-per-day`). A request is
//! refused before any generation once a budget is spent; its usage is
//! recorded after it, for every principal it is charged to.

use twake_types::AccessPass;

use crate::engine::config::{GroupQuota, QuotaConfig};
use crate::engine::dates::month_of;
use crate::{CoreError, Result, Workspace};

/// One budget and what has been used of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// `alice@x.fr`, `group:stagiaires` or `key:12`.
    pub principal: String,
    pub tokens_per_day: u64,
    pub cost_per_month: f64,
    pub used_tokens_today: u64,
    pub used_cost_this_month: f64,
}

/// The first spent budget, with the seconds until it renews; `None` when
/// every budget has room left. Pure, for tests.
pub fn first_exceeded(budgets: &[Budget], now: i64) -> Option<(String, u64)> {
    let day = now.div_euclid(86_400);
    for b in budgets {
        if b.tokens_per_day > 0 && b.used_tokens_today >= b.tokens_per_day {
            let retry = ((day + 1) * 86_400 - now) as u64;
            let msg = format!(
                "Daily token quota of {} reached ({} of {} tokens used today). It renews at midnight UTC.",
                b.principal, b.used_tokens_today, b.tokens_per_day
            );
            return Some((msg, retry));
        }
        if b.cost_per_month > 0.0 && b.used_cost_this_month >= b.cost_per_month {
            let (_, last) = month_of(day);
            let retry = ((last + 1) * 86_400 - now) as u64;
            let msg = format!(
                "Monthly budget of {} reached ({:.2} of {:.2} spent this month). It renews on the 1st (UTC).",
                b.principal, b.used_cost_this_month, b.cost_per_month
            );
            return Some((msg, retry));
        }
    }
    None
}

/// Who makes a request: their pass and, when they came with an API key,
/// the key's id and daily limit.
#[derive(Debug, Clone)]
pub struct Requester<'a> {
    pub pass: &'a AccessPass,
    pub key: Option<(i64, Option<u64>)>,
}

/// The configured group budgets the pass is a member of.
fn budgeted_groups<'a>(q: &'a QuotaConfig, pass: &'a AccessPass) -> impl Iterator<Item = &'a GroupQuota> + 'a {
    q.groups.iter().filter(move |g| {
        let name = g.group.to_lowercase();
        pass.principals().is_some_and(|ps| ps.iter().any(|p| p.as_str() == name))
    })
}

impl Workspace {
    /// The budgets that apply to a request, with their current use.
    pub async fn budgets(&self, who: &Requester<'_>) -> Result<Vec<Budget>> {
        let q = &self.config.quotas;
        let now = self.clock.now();
        let day = now.div_euclid(86_400);
        let (month_first, month_last) = month_of(day);
        let mut limits: Vec<(String, u64, f64)> = Vec::new();
        if let Some(user) = who.pass.user() {
            limits.push((user.to_string(), q.tokens_per_day, q.cost_per_month));
        }
        for g in budgeted_groups(q, who.pass) {
            limits.push((g.group.to_lowercase(), g.tokens_per_day, g.cost_per_month));
        }
        if let Some((id, limit)) = who.key {
            limits.push((format!("key:{id}"), limit.unwrap_or(0), 0.0));
        }
        let mut out = Vec::with_capacity(limits.len());
        for (principal, tokens_per_day, cost_per_month) in limits {
            let today = self.store.usage_sum(&principal, day, day).await?;
            let month = self.store.usage_sum(&principal, month_first, month_last).await?;
            out.push(Budget {
                principal,
                tokens_per_day,
                cost_per_month,
                used_tokens_today: today.tokens,
                used_cost_this_month: month.cost,
            });
        }
        Ok(out)
    }

    /// Refuses the request (`CoreError::Quota`) when a budget is spent.
    pub async fn quota_check(&self, who: &Requester<'_>) -> Result<()> {
        match first_exceeded(&self.budgets(who).await?, self.clock.now()) {
            Some((message, retry_after)) => Err(CoreError::Quota { message, retry_after }),
            None => Ok(()),
        }
    }

    /// Records a request's tokens at the embedded model's price
    /// (`models.price_per_million_tokens`).
    pub async fn quota_record(&self, who: &Requester<'_>, tokens: u64) -> Result<()> {
        self.quota_charge(who, tokens, self.config.models.price_per_million_tokens).await
    }

    /// Records a request's tokens, and their cost at `price_per_million`
    /// (the price of the model that answered), against the user, their
    /// budgeted groups and their key.
    pub async fn quota_charge(&self, who: &Requester<'_>, tokens: u64, price_per_million: f64) -> Result<()> {
        let mut charged: Vec<String> = who.pass.user().map(|u| vec![u.to_string()]).unwrap_or_default();
        charged.extend(budgeted_groups(&self.config.quotas, who.pass).map(|g| g.group.to_lowercase()));
        if let Some((id, _)) = who.key {
            charged.push(format!("key:{id}"));
        }
        let cost = tokens as f64 * price_per_million / 1e6;
        let day = self.clock.now().div_euclid(86_400);
        Ok(self.store.usage_add(day, &charged, tokens, cost).await?)
    }

    /// Usage by principal over days `from..=to` (day numbers).
    pub async fn usage_report(&self, from: i64, to: i64) -> Result<Vec<(String, twake_index::Usage)>> {
        Ok(self.store.usage_report(from, to).await?)
    }

    /// Usage by day (day number) and principal over days `from..=to`.
    pub async fn usage_by_day(&self, from: i64, to: i64) -> Result<Vec<(i64, String, twake_index::Usage)>> {
        Ok(self.store.usage_by_day(from, to).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dates::{civil_from_days, days_from_civil};

    fn budget(tokens_per_day: u64, used: u64, cost_per_month: f64, spent: f64) -> Budget {
        Budget {
            principal: "alice@x.fr".into(),
            tokens_per_day,
            cost_per_month,
            used_tokens_today: used,
            used_cost_this_month: spent,
        }
    }

    #[test]
    fn calendar_arithmetic() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 11, 29) * 86_400, 1_795_910_400);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        let (first, last) = month_of(days_from_civil(2026, 12, 15));
        assert_eq!((civil_from_days(first), civil_from_days(last)), ((2026, 12, 1), (2026, 12, 31)));
        let (_, last) = month_of(days_from_civil(2028, 2, 3));
        assert_eq!(civil_from_days(last), (2028, 2, 29));
    }

    #[test]
    fn budgets_refuse_once_spent_and_say_when_they_renew() {
        let noon = days_from_civil(2026, 11, 29) * 86_400 + 12 * 3600;
        assert_eq!(first_exceeded(&[budget(1000, 999, 0.0, 0.0)], noon), None);
        let (msg, retry) = first_exceeded(&[budget(1000, 1000, 0.0, 0.0)], noon).unwrap();
        assert!(msg.contains("1000 of 1000 tokens"), "{msg}");
        assert_eq!(retry, 12 * 3600);
        assert_eq!(first_exceeded(&[budget(0, 1_000_000, 0.0, 0.0)], noon), None, "0 is no limit");
        let (msg, retry) = first_exceeded(&[budget(0, 0, 5.0, 5.01)], noon).unwrap();
        assert!(msg.contains("Monthly budget"), "{msg}");
        assert_eq!(retry, 86_400 + 12 * 3600, "renews on 1 December");
    }
}
