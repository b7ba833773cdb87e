//! iCalendar (RFC 5545): every `VEVENT` of a `.ics` file or of a CalDAV
//! resource becomes a document: its summary as title, when (in its own time
//! zone), where, who organises and who attends (as participants), how it
//! repeats, and its description.
//!
//! Hand-written rather than the `ical` crate: that one joins folded lines
//! after trimming them (a fold after a space glues two words) and stops
//! silently at the first line that is not UTF-8. The format is small:
//! unfolding, content lines, nested `BEGIN`/`END` blocks, text escapes.

use twake_types::{Document, Locator, Participant, Role, Section, SourceKind};

use crate::{ExtractError, Extracted, Result};

const FORMAT: &str = "iCalendar";

/// One content line: `NAME;PARAM=VALUE:value`.
#[derive(Debug, Clone, PartialEq)]
struct Prop {
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

impl Prop {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A `BEGIN:X` … `END:X` block.
#[derive(Debug, Default)]
struct Component {
    name: String,
    props: Vec<Prop>,
    children: Vec<Component>,
}

impl Component {
    fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.prop(name).map(|p| unescape(&p.value)).filter(|t| !t.trim().is_empty())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Component> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Content lines with folding undone: a line starting with a space or a tab
/// continues the previous one (that one character removed, nothing else).
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        match line.strip_prefix([' ', '\t']) {
            Some(rest) if !lines.is_empty() => lines.last_mut().into_iter().for_each(|l| l.push_str(rest)),
            _ if line.trim().is_empty() => {}
            _ => lines.push(line.to_string()),
        }
    }
    lines
}

/// `NAME;P1=a,b;P2="x:y":value`; `None` for a line without a colon.
fn parse_line(line: &str) -> Option<Prop> {
    let mut quoted = false;
    let mut cut = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => {
                cut = Some(i);
                break;
            }
            _ => {}
        }
    }
    let (head, value) = line.split_at(cut?);
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in head.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(&head[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&head[start..]);
    let name = parts[0].trim().to_ascii_uppercase();
    if name.is_empty() {
        return None;
    }
    let params = parts[1..]
        .iter()
        .filter_map(|p| p.split_once('='))
        .map(|(n, v)| (n.trim().to_ascii_uppercase(), v.replace('"', "")))
        .collect();
    Some(Prop { name, params, value: value[1..].to_string() })
}

/// TEXT values: `\n`, `\,`, `\;`, `\\`.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The calendars of a file, with what could not be read as warnings.
fn parse(text: &str) -> (Vec<Component>, Vec<String>) {
    let mut stack: Vec<Component> = Vec::new();
    let mut done = Vec::new();
    let mut warnings = Vec::new();
    for line in unfold(text) {
        let Some(prop) = parse_line(&line) else {
            if !stack.is_empty() {
                warnings.push(format!("line {:?} is not a content line: skipped", truncate(&line)));
            }
            continue;
        };
        match prop.name.as_str() {
            "BEGIN" => stack.push(Component { name: prop.value.trim().to_ascii_uppercase(), ..Default::default() }),
            "END" => {
                let name = prop.value.trim().to_ascii_uppercase();
                // Close up to the matching BEGIN: a missing END loses nothing.
                let Some(at) = stack.iter().rposition(|c| c.name == name) else {
                    warnings.push(format!("END:{name} without BEGIN: ignored"));
                    continue;
                };
                while stack.len() > at + 1 {
                    let c = stack.pop().unwrap_or_default();
                    warnings.push(format!("BEGIN:{} has no END: closed at END:{name}", c.name));
                    close(&mut stack, &mut done, c);
                }
                let c = stack.pop().unwrap_or_default();
                close(&mut stack, &mut done, c);
            }
            _ => {
                if let Some(c) = stack.last_mut() {
                    c.props.push(prop);
                }
            }
        }
    }
    while let Some(c) = stack.pop() {
        warnings.push(format!("BEGIN:{} has no END (the file is cut short?)", c.name));
        close(&mut stack, &mut done, c);
    }
    (done, warnings)
}

fn close(stack: &mut [Component], done: &mut Vec<Component>, c: Component) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(c),
        None => done.push(c),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

/// A DATE or DATE-TIME value and its zone.
#[derive(Debug, Clone, PartialEq)]
struct When {
    date: (i64, u32, u32),
    time: Option<(u32, u32, u32)>,
    zone: Zone,
}

#[derive(Debug, Clone, PartialEq)]
enum Zone {
    Utc,
    Named(String),
    /// No zone: the same wall-clock time wherever one is.
    Floating,
}

fn parse_when(p: &Prop) -> Option<When> {
    let v = p.value.trim();
    let num = |s: &str| s.parse::<u32>().ok();
    let (d, t) = v.split_once('T').map_or((v, None), |(d, t)| (d, Some(t)));
    if d.len() != 8 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = (d.get(..4)?.parse().ok()?, num(d.get(4..6)?)?, num(d.get(6..8)?)?);
    if !(1..=12).contains(&date.1) || !(1..=31).contains(&date.2) {
        return None;
    }
    let Some(t) = t else { return Some(When { date, time: None, zone: Zone::Floating }) };
    let (t, utc) = t.strip_suffix('Z').map_or((t, false), |t| (t, true));
    if t.len() < 4 {
        return None;
    }
    let time = (num(t.get(..2)?)?, num(t.get(2..4)?)?, t.get(4..6).and_then(num).unwrap_or(0));
    let zone = match (utc, p.param("TZID")) {
        (true, _) => Zone::Utc,
        (false, Some(tz)) => Zone::Named(tz.trim_start_matches('/').to_string()),
        (false, None) => Zone::Floating,
    };
    Some(When { date, time: Some(time), zone })
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    twake_types::civil::days_from_civil(y, i64::from(m), i64::from(d))
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let (y, m, d) = twake_types::civil::civil_from_days(z);
    (y, m as u32, d as u32)
}

/// Seconds since the epoch of a wall-clock time read as UTC.
fn wall_seconds(w: &When) -> i64 {
    let (h, mi, s) = w.time.unwrap_or((0, 0, 0));
    days_from_civil(w.date.0, w.date.1, w.date.2) * 86_400 + i64::from(h * 3600 + mi * 60 + s)
}

/// The day (1-31) of the `n`th (negative: from the end) `weekday` (0 =
/// Sunday) of a month.
fn nth_weekday(year: i64, month: u32, n: i64, weekday: i64) -> Option<u32> {
    let first = days_from_civil(year, month, 1);
    let next = if month == 12 { days_from_civil(year + 1, 1, 1) } else { days_from_civil(year, month + 1, 1) };
    let dow = |day: i64| (day + 4).rem_euclid(7); // 1970-01-01 was a Thursday
    let day = if n > 0 {
        first + (weekday - dow(first)).rem_euclid(7) + 7 * (n - 1)
    } else {
        let last = next - 1;
        last - (dow(last) - weekday).rem_euclid(7) - 7 * (-n - 1)
    };
    (first..next).contains(&day).then(|| civil_from_days(day).2)
}

/// `+0100` → 3600 seconds.
fn parse_offset(s: &str) -> Option<i64> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if rest.len() < 4 {
        return None;
    }
    let (h, m) = (rest.get(..2)?.parse::<i64>().ok()?, rest.get(2..4)?.parse::<i64>().ok()?);
    let sec = rest.get(4..6).and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
    Some(sign * (h * 3600 + m * 60 + sec))
}

/// When, in local wall-clock seconds, a `STANDARD`/`DAYLIGHT` block of a
/// `VTIMEZONE` starts in `year` (its yearly `BYMONTH` + `BYDAY` rule, or
/// its `DTSTART` when it does not repeat).
fn onset(t: &Component, year: i64) -> Option<i64> {
    let start = t.prop("DTSTART").and_then(parse_when)?;
    let Some(rule) = t.prop("RRULE") else {
        return (start.date.0 == year).then(|| wall_seconds(&start));
    };
    let part = |k: &str| rule.value.split(';').find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='));
    if part("FREQ") != Some("YEARLY") || start.date.0 > year {
        return None;
    }
    let month: u32 = part("BYMONTH")?.parse().ok()?;
    let byday = part("BYDAY")?;
    let (n, wd) = byday.split_at_checked(byday.len().checked_sub(2)?)?;
    let weekday = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"].iter().position(|d| *d == wd)? as i64;
    let n: i64 = if n.is_empty() { 1 } else { n.trim_start_matches('+').parse().ok()? };
    let day = nth_weekday(year, month, n, weekday)?;
    Some(wall_seconds(&When { date: (year, month, day), ..start }))
}

/// The UTC offset in force at a wall-clock time, from the file's
/// `VTIMEZONE` for that zone (the block whose latest onset precedes it).
fn offset_from_vtimezone(tz: &Component, w: &When) -> Option<i64> {
    let local = wall_seconds(w);
    let year = w.date.0;
    let mut best: Option<(i64, i64)> = None; // (onset, offset)
    for t in tz.children.iter().filter(|c| c.name == "STANDARD" || c.name == "DAYLIGHT") {
        let Some(to) = t.prop("TZOFFSETTO").and_then(|p| parse_offset(&p.value)) else { continue };
        for y in [year - 1, year] {
            if let Some(at) = onset(t, y).filter(|at| *at <= local)
                && best.is_none_or(|(b, _)| at > b)
            {
                best = Some((at, to));
            }
        }
        // A block that started before this year and does not repeat.
        if let Some(start) = t.prop("DTSTART").and_then(parse_when)
            && t.prop("RRULE").is_none()
            && start.date.0 < year - 1
            && best.is_none()
        {
            best = Some((wall_seconds(&start), to));
        }
    }
    best.map(|(_, o)| o)
}

/// The UTC offset of an IANA zone (`America/New_York`, `Europe/Paris`) at a
/// wall-clock time, from the time-zone database bundled in the binary
/// (jiff): every zone, offline, with its past rules. A time in a gap (the
/// hour skipped in spring) reads with the offset before it, a time in a
/// fold (the hour repeated in autumn) as the first one, as RFC 5545 says.
fn tzdb_offset(zone: &str, w: &When) -> Option<i64> {
    let tz = jiff::tz::db().get(zone).ok()?;
    let (h, mi, s) = w.time?;
    let small = |v: u32| i8::try_from(v).ok();
    let wall = jiff::civil::DateTime::new(
        i16::try_from(w.date.0).ok()?,
        small(w.date.1)?,
        small(w.date.2)?,
        small(h)?,
        small(mi)?,
        small(s.min(59))?,
        0,
    )
    .ok()?;
    let offset = match tz.to_ambiguous_timestamp(wall).offset() {
        jiff::tz::AmbiguousOffset::Unambiguous { offset } => offset,
        jiff::tz::AmbiguousOffset::Gap { before, .. } | jiff::tz::AmbiguousOffset::Fold { before, .. } => before,
    };
    Some(i64::from(offset.seconds()))
}

/// RFC 3339 of a start: with its offset when the zone is known, as a bare
/// local time when floating or unknown, a date alone for a whole day.
fn rfc3339(w: &When, zones: &[&Component]) -> String {
    let (y, m, d) = w.date;
    let Some((h, mi, s)) = w.time else { return format!("{y:04}-{m:02}-{d:02}") };
    let base = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    let offset = match &w.zone {
        Zone::Utc => return format!("{base}Z"),
        Zone::Floating => None,
        Zone::Named(name) => zones
            .iter()
            .find(|z| z.prop("TZID").is_some_and(|p| p.value.trim_start_matches('/') == name))
            .and_then(|z| offset_from_vtimezone(z, w))
            .or_else(|| tzdb_offset(name, w)),
    };
    match offset {
        Some(o) => {
            let sign = if o < 0 { '-' } else { '+' };
            format!("{base}{sign}{:02}:{:02}", o.abs() / 3600, o.abs() % 3600 / 60)
        }
        None => base,
    }
}

/// `2026-11-13 10:00–11:30 (Europe/Paris)`, `2026-11-13 (all day)`.
fn span(start: &When, end: Option<&When>) -> String {
    let day = |w: &When| format!("{:04}-{:02}-{:02}", w.date.0, w.date.1, w.date.2);
    let clock = |w: &When| w.time.map(|(h, m, _)| format!("{h:02}:{m:02}")).unwrap_or_default();
    let zone = match &start.zone {
        Zone::Utc => " UTC".to_string(),
        Zone::Named(z) => format!(" ({z})"),
        Zone::Floating => String::new(),
    };
    match (start.time, end) {
        (None, Some(e))
            if days_from_civil(e.date.0, e.date.1, e.date.2)
                > days_from_civil(start.date.0, start.date.1, start.date.2) + 1 =>
        {
            // DTEND of a whole-day event is exclusive.
            let last = civil_from_days(days_from_civil(e.date.0, e.date.1, e.date.2) - 1);
            format!("{} to {:04}-{:02}-{:02} (all day)", day(start), last.0, last.1, last.2)
        }
        (None, _) => format!("{} (all day)", day(start)),
        (Some(_), Some(e)) if e.time.is_some() && e.date == start.date => {
            format!("{} {}–{}{zone}", day(start), clock(start), clock(e))
        }
        (Some(_), Some(e)) if e.time.is_some() => {
            format!("{} {} to {} {}{zone}", day(start), clock(start), day(e), clock(e))
        }
        (Some(_), _) => format!("{} {}{zone}", day(start), clock(start)),
    }
}

/// `PT1H30M`, `P1D` → the end of an event that gives a duration.
fn add_duration(start: &When, duration: &str) -> Option<When> {
    let d = duration.trim();
    let (neg, d) = d.strip_prefix('-').map_or((false, d.trim_start_matches('+')), |r| (true, r));
    let d = d.strip_prefix('P')?;
    let mut secs = 0i64;
    let mut n = String::new();
    for c in d.chars() {
        match c {
            '0'..='9' => n.push(c),
            'T' => {}
            'W' | 'D' | 'H' | 'M' | 'S' => {
                let v: i64 = n.parse().ok()?;
                n.clear();
                secs += v * match c {
                    'W' => 604_800,
                    'D' => 86_400,
                    'H' => 3600,
                    'M' => 60,
                    _ => 1,
                };
            }
            _ => return None,
        }
    }
    if neg {
        return None;
    }
    let end = wall_seconds(start) + secs;
    let date = civil_from_days(end.div_euclid(86_400));
    let t = end.rem_euclid(86_400) as u32;
    Some(When { date, time: start.time.map(|_| (t / 3600, t / 60 % 60, t % 60)), zone: start.zone.clone() })
}

/// `FREQ=WEEKLY;BYDAY=MO;UNTIL=…` in words.
fn recurrence(rule: &str) -> String {
    let part = |k: &str| rule.split(';').find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='));
    let every = match part("INTERVAL").and_then(|i| i.parse::<u32>().ok()).filter(|i| *i > 1) {
        Some(i) => format!("every {i} "),
        None => "every ".into(),
    };
    let unit = match part("FREQ") {
        Some("DAILY") => "day",
        Some("WEEKLY") => "week",
        Some("MONTHLY") => "month",
        Some("YEARLY") => "year",
        _ => return format!("repeats ({rule})"),
    };
    let plural = if every.len() > "every ".len() { "s" } else { "" };
    let mut s = format!("{every}{unit}{plural}");
    if let Some(days) = part("BYDAY") {
        let names: Vec<&str> = days
            .split(',')
            .map(|d| {
                let code = d.get(d.len().saturating_sub(2)..).unwrap_or(d);
                match code {
                    "MO" => "Monday",
                    "TU" => "Tuesday",
                    "WE" => "Wednesday",
                    "TH" => "Thursday",
                    "FR" => "Friday",
                    "SA" => "Saturday",
                    "SU" => "Sunday",
                    other => other,
                }
            })
            .collect();
        s.push_str(&format!(" on {}", names.join(", ")));
    }
    if let Some((y, m, d)) = part("UNTIL").and_then(|u| Some((u.get(..4)?, u.get(4..6)?, u.get(6..8)?))) {
        s.push_str(&format!(" until {y}-{m}-{d}"));
    }
    if let Some(count) = part("COUNT") {
        s.push_str(&format!(", {count} times"));
    }
    s
}

/// `Alice Martin <alice@example.org>` from `CN=…:mailto:…`.
fn person(p: &Prop) -> (String, Option<String>) {
    let address = p
        .value
        .trim()
        .strip_prefix("mailto:")
        .or_else(|| p.value.trim().strip_prefix("MAILTO:"))
        .map(|a| a.trim().to_lowercase())
        .filter(|a| a.contains('@'));
    let name = p.param("CN").map(str::trim).filter(|n| !n.is_empty());
    let shown = match (name, &address) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (Some(n), None) => n.to_string(),
        (None, Some(a)) => a.clone(),
        (None, None) => p.value.trim().to_string(),
    };
    (shown, address)
}

fn event(ev: &Component, zones: &[&Component], stem: &str) -> Option<Document> {
    let start = ev.prop("DTSTART").and_then(parse_when);
    let end = ev
        .prop("DTEND")
        .and_then(parse_when)
        .or_else(|| start.as_ref().and_then(|s| add_duration(s, &ev.prop("DURATION")?.value)));
    let title = ev.text("SUMMARY").map(|s| s.trim().to_string()).unwrap_or_else(|| stem.to_string());
    let mut lines = vec![title.clone()];
    let mut participants = Vec::new();
    if let Some(s) = &start {
        lines.push(format!("When: {}", span(s, end.as_ref())));
    }
    if let Some(rule) = ev.prop("RRULE") {
        lines.push(format!("Repeats: {}", recurrence(rule.value.trim())));
    }
    if let Some(r) = ev.prop("RECURRENCE-ID").and_then(parse_when) {
        lines.push(format!("Changes the occurrence of: {}", span(&r, None)));
    }
    if let Some(status) = ev.text("STATUS") {
        lines.push(format!("Status: {}", status.trim().to_lowercase()));
    }
    if let Some(place) = ev.text("LOCATION") {
        lines.push(format!("Where: {}", place.trim()));
    }
    let organizer = ev.prop("ORGANIZER").map(person);
    if let Some((shown, address)) = &organizer {
        lines.push(format!("Organizer: {shown}"));
        if let Some(a) = address {
            participants.push(Participant { role: Role::From, address: a.clone() });
        }
    }
    let mut attendees = Vec::new();
    for p in ev.props.iter().filter(|p| p.name == "ATTENDEE") {
        let (shown, address) = person(p);
        let answer = p.param("PARTSTAT").map(|s| s.to_lowercase().replace("needs-action", "no answer yet"));
        let role = p.param("ROLE").filter(|r| r.eq_ignore_ascii_case("OPT-PARTICIPANT")).map(|_| "optional");
        let notes: Vec<String> = answer.into_iter().chain(role.map(String::from)).collect();
        attendees.push(if notes.is_empty() { shown } else { format!("{shown} ({})", notes.join(", ")) });
        if let Some(a) = address {
            participants.push(Participant { role: Role::To, address: a });
        }
    }
    if !attendees.is_empty() {
        lines.push(format!("Attendees: {}", attendees.join("; ")));
    }
    if let Some(url) = ev.text("URL") {
        lines.push(format!("Link: {}", url.trim()));
    }
    if let Some(desc) = ev.text("DESCRIPTION") {
        lines.push(String::new());
        lines.push(desc.trim().to_string());
    }
    if lines.len() == 1 && start.is_none() {
        return None;
    }
    let uid = ev.text("UID").map(|u| u.trim().to_string()).unwrap_or_default();
    let key = match ev.prop("RECURRENCE-ID") {
        Some(r) => format!("{uid}#{}", r.value.trim()),
        None => uid,
    };
    let body = lines.join("\n");
    let mut doc = Document::new(SourceKind::Event, title, body.clone());
    doc.key = key;
    doc.date = start.as_ref().map(|s| rfc3339(s, zones));
    doc.author = organizer.map(|(shown, _)| shown);
    doc.marking = ev.text("CLASS").filter(|c| !c.eq_ignore_ascii_case("PUBLIC"));
    participants.sort_by(|a, b| a.address.cmp(&b.address));
    participants.dedup_by(|a, b| a.address == b.address);
    doc.participants = participants;
    doc.sections = vec![Section { locator: Locator::Section(String::new()), text: body }];
    Some(doc)
}

/// Every event of an iCalendar file.
pub fn ics(stem: &str, text: &str) -> Result<Extracted> {
    let (calendars, mut warnings) = parse(text);
    let calendars: Vec<&Component> = calendars.iter().filter(|c| c.name == "VCALENDAR").collect();
    if calendars.is_empty() {
        return Err(ExtractError::Corrupt { format: FORMAT, reason: "no BEGIN:VCALENDAR block".into() });
    }
    let zones: Vec<&Component> = calendars.iter().flat_map(|c| c.all("VTIMEZONE")).collect();
    let mut documents = Vec::new();
    for ev in calendars.iter().flat_map(|c| c.all("VEVENT")) {
        match event(ev, &zones, stem) {
            Some(d) => documents.push(d),
            None => warnings.push("an event with neither summary nor start: skipped".into()),
        }
    }
    if documents.is_empty() {
        return Err(ExtractError::NoText { format: FORMAT, hint: " (no event in it)" });
    }
    Ok(Extracted { documents, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARIS: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19961027T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

    fn cal(body: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{PARIS}{body}END:VCALENDAR\r\n")
    }

    #[test]
    fn an_invitation_reads_as_one_event_with_its_people() {
        let text = cal(concat!(
            "BEGIN:VEVENT\r\nUID:comite-42@valmont.fr\r\nSUMMARY:Comité budget\\, 2027\r\n",
            "DTSTART;TZID=Europe/Paris:20261113T100000\r\nDTEND;TZID=Europe/Paris:20261113T113000\r\n",
            "LOCATION:Salle B\\; Mairie\r\n",
            "ORGANIZER;CN=\"Martin, Alice\":mailto:Alice@Valmont.fr\r\n",
            "ATTENDEE;CN=Bob Durand;PARTSTAT=ACCEPTED:mailto:bob@valmont.fr\r\n",
            "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:carol@valmont.fr\r\n",
            "DESCRIPTION:Ordre du jour :\\n1. arbitrages\\n2. calendrier de la \r\n",
            " consultation (le vote est \r\n prévu)\r\nEND:VEVENT\r\n"
        ));
        let x = ics("agenda", &text).unwrap();
        assert!(x.warnings.is_empty(), "{:?}", x.warnings);
        let [d] = &x.documents[..] else { panic!("{:?}", x.documents) };
        assert_eq!(d.kind, SourceKind::Event);
        assert_eq!(d.title, "Comité budget, 2027");
        assert_eq!(d.key, "comite-42@valmont.fr");
        assert_eq!(d.date.as_deref(), Some("2026-11-13T10:00:00+01:00"));
        assert_eq!(d.author.as_deref(), Some("Martin, Alice <alice@valmont.fr>"));
        let body = &d.body;
        assert!(body.contains("When: 2026-11-13 10:00–11:30 (Europe/Paris)"), "{body}");
        assert!(body.contains("Where: Salle B; Mairie"), "{body}");
        assert!(body.contains("Bob Durand <bob@valmont.fr> (accepted)"), "{body}");
        assert!(body.contains("carol@valmont.fr (no answer yet, optional)"), "{body}");
        // A fold right after a space keeps the space; the escapes are read.
        assert!(body.contains("1. arbitrages\n2. calendrier de la consultation (le vote est prévu)"), "{body}");
        let who: Vec<(&str, Role)> = d.participants.iter().map(|p| (p.address.as_str(), p.role)).collect();
        assert_eq!(
            who,
            [("alice@valmont.fr", Role::From), ("bob@valmont.fr", Role::To), ("carol@valmont.fr", Role::To)]
        );
        assert_eq!(d.sections.len(), 1);
    }

    #[test]
    fn times_are_given_in_their_zone_with_the_right_offset() {
        let when = |v: &str, tz: Option<&str>| {
            let params = tz.map(|t| vec![("TZID".to_string(), t.to_string())]).unwrap_or_default();
            parse_when(&Prop { name: "DTSTART".into(), params, value: v.into() }).unwrap()
        };
        let (_, w) = parse(&cal(""));
        assert!(w.is_empty());
        let (cals, _) = parse(&cal(""));
        let zones: Vec<&Component> = cals[0].all("VTIMEZONE").collect();
        // Summer and winter time from the file's VTIMEZONE, around both changes.
        assert_eq!(rfc3339(&when("20260715T090000", Some("Europe/Paris")), &zones), "2026-07-15T09:00:00+02:00");
        assert_eq!(rfc3339(&when("20260328T120000", Some("Europe/Paris")), &zones), "2026-03-28T12:00:00+01:00");
        assert_eq!(rfc3339(&when("20260329T120000", Some("Europe/Paris")), &zones), "2026-03-29T12:00:00+02:00");
        assert_eq!(rfc3339(&when("20261025T120000", Some("Europe/Paris")), &zones), "2026-10-25T12:00:00+01:00");
        assert_eq!(rfc3339(&when("20260101T120000", Some("Europe/Paris")), &zones), "2026-01-01T12:00:00+01:00");
        // Named but not described: the bundled time-zone database, any zone.
        assert_eq!(rfc3339(&when("20260715T090000", Some("Europe/Berlin")), &[]), "2026-07-15T09:00:00+02:00");
        assert_eq!(rfc3339(&when("20261201T090000", Some("Europe/London")), &[]), "2026-12-01T09:00:00+00:00");
        assert_eq!(rfc3339(&when("20260715T090000", Some("America/New_York")), &[]), "2026-07-15T09:00:00-04:00");
        assert_eq!(rfc3339(&when("20261201T090000", Some("America/New_York")), &[]), "2026-12-01T09:00:00-05:00");
        assert_eq!(rfc3339(&when("20261201T090000", Some("Asia/Kolkata")), &[]), "2026-12-01T09:00:00+05:30");
        assert_eq!(rfc3339(&when("20260315T090000", Some("Australia/Sydney")), &[]), "2026-03-15T09:00:00+11:00");
        // Paris skips 02:00–03:00 on 29 March 2026: the offset before the gap.
        assert_eq!(rfc3339(&when("20260329T023000", Some("Europe/Paris")), &[]), "2026-03-29T02:30:00+01:00");
        // and repeats 02:00–03:00 on 25 October 2026: the first of the two.
        assert_eq!(rfc3339(&when("20261025T023000", Some("Europe/Paris")), &[]), "2026-10-25T02:30:00+02:00");
        assert_eq!(rfc3339(&when("20261201T090000Z", None), &[]), "2026-12-01T09:00:00Z");
        // Unknown zone or floating time: the wall-clock time, no offset.
        assert_eq!(rfc3339(&when("20261201T090000", Some("Mars/Olympus")), &[]), "2026-12-01T09:00:00");
        assert_eq!(rfc3339(&when("20261201", None), &[]), "2026-12-01");
        assert_eq!(nth_weekday(2026, 3, -1, 0), Some(29));
        assert_eq!(nth_weekday(2026, 11, 2, 5), Some(13));
        assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
    }

    #[test]
    fn durations_all_day_events_and_repeats() {
        let text = cal(concat!(
            "BEGIN:VEVENT\r\nUID:a\r\nSUMMARY:Point hebdo\r\nDTSTART:20261116T083000Z\r\nDURATION:PT45M\r\n",
            "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20270131T000000Z\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:a\r\nRECURRENCE-ID:20261130T083000Z\r\nSUMMARY:Point hebdo (annulé)\r\n",
            "STATUS:CANCELLED\r\nDTSTART:20261130T083000Z\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:Séminaire\r\nDTSTART;VALUE=DATE:20261203\r\n",
            "DTEND;VALUE=DATE:20261205\r\nCLASS:CONFIDENTIAL\r\nEND:VEVENT\r\n"
        ));
        let x = ics("agenda", &text).unwrap();
        let bodies: Vec<&str> = x.documents.iter().map(|d| d.body.as_str()).collect();
        assert!(bodies[0].contains("When: 2026-11-16 08:30–09:15 UTC"), "{}", bodies[0]);
        assert!(bodies[0].contains("Repeats: every 2 weeks on Monday, Thursday until 2027-01-31"), "{}", bodies[0]);
        assert!(
            bodies[1].contains("Status: cancelled")
                && bodies[1].contains("Changes the occurrence of: 2026-11-30 08:30 UTC")
        );
        assert_eq!(x.documents[1].key, "a#20261130T083000Z");
        assert!(bodies[2].contains("When: 2026-12-03 to 2026-12-04 (all day)"), "{}", bodies[2]);
        assert_eq!(x.documents[2].marking.as_deref(), Some("CONFIDENTIAL"));
        assert_eq!(x.documents[2].date.as_deref(), Some("2026-12-03"));
    }

    #[test]
    fn broken_files_say_what_is_wrong_and_keep_what_can_be_read() {
        assert!(matches!(ics("x", "hello"), Err(ExtractError::Corrupt { .. })));
        let empty = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
        assert!(matches!(ics("x", empty), Err(ExtractError::NoText { .. })));
        // Cut short after the first event, with a stray line and END.
        let cut = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Premier\nDTSTART:20261201T090000Z\nEND:VEVENT\n\
                   garbage without colon\nEND:VTODO\nBEGIN:VEVENT\nSUMMARY:Second\nDTSTART:20261202T090000Z\n";
        let x = ics("x", cut).unwrap();
        let titles: Vec<&str> = x.documents.iter().map(|d| d.title.as_str()).collect();
        assert_eq!(titles, ["Premier", "Second"]);
        assert_eq!(x.warnings.len(), 4, "{:?}", x.warnings);
        assert!(x.warnings.iter().any(|w| w.contains("cut short")));
    }
}
