//! The final report: text for people, one JSON object with `--json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::http::Transport;
use crate::stats::{Op, OpStats, Stats};

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

/// Errors of one (HTTP status, envelope code) pair; `code` is null when the body had
/// no envelope (e.g. a proxy's 502 page).
#[derive(Debug, Serialize)]
pub struct ErrorCount {
    pub status: u16,
    pub code: Option<i64>,
    pub count: u64,
}

/// Figures of one endpoint or of all together.
#[derive(Debug, Serialize)]
pub struct Figures {
    /// Requests finished in the measured window (answered or failed).
    pub requests: u64,
    /// Answered HTTP 200 with code 0.
    pub ok: u64,
    /// `requests - ok`: error answers plus transport errors.
    pub errors: u64,
    pub requests_per_sec: f64,
    /// Over every answered request (errors included, transport failures not).
    pub latency_ms: Latency,
    pub errors_by_status: Vec<ErrorCount>,
    pub transport_errors: BTreeMap<&'static str, u64>,
}

impl Figures {
    fn of(s: &OpStats, seconds: f64) -> Self {
        // Histogram values are whole microseconds: milliseconds with 3 decimals.
        let ms = |micros: u64| micros as f64 / 1000.0;
        let h = &s.latency;
        let q = |q: f64| {
            if h.is_empty() {
                0.0
            } else {
                ms(h.value_at_quantile(q))
            }
        };
        let mut errors_by_status: Vec<ErrorCount> = s
            .errors
            .iter()
            .map(|(&(status, code), &count)| ErrorCount {
                status,
                code,
                count,
            })
            .collect();
        errors_by_status.sort_by(|a, b| b.count.cmp(&a.count).then(a.status.cmp(&b.status)));
        Self {
            requests: s.requests,
            ok: s.ok,
            errors: s.requests - s.ok,
            requests_per_sec: if seconds > 0.0 {
                (s.requests as f64 / seconds * 10.0).round() / 10.0
            } else {
                0.0
            },
            latency_ms: Latency {
                p50: q(0.50),
                p90: q(0.90),
                p99: q(0.99),
                p99_9: q(0.999),
                max: if h.is_empty() { 0.0 } else { ms(h.max()) },
                mean: if h.is_empty() {
                    0.0
                } else {
                    h.mean().round() / 1000.0
                },
            },
            errors_by_status,
            transport_errors: Transport::ALL
                .iter()
                .map(|&t| (t.name(), s.transport[t as usize]))
                .collect(),
        }
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub targets: Vec<String>,
    pub connections: usize,
    pub threads: usize,
    /// Scenario parameters (users, rooms, ...).
    pub params: serde_json::Value,
    /// `--rate` (open loop), or null for back-to-back.
    pub rate_target: Option<f64>,
    pub warmup_s: f64,
    /// Length of the measured window.
    pub duration_s: f64,
    /// All endpoints together.
    #[serde(flatten)]
    pub total: Figures,
    /// Per endpoint.
    pub endpoints: BTreeMap<&'static str, Figures>,
    /// Hints about the figures (e.g. users expiring between beats).
    pub notes: Vec<String>,
}

/// What a scenario hands back for the report.
pub struct Finished {
    pub stats: Stats,
    pub measured_s: f64,
    pub params: serde_json::Value,
    pub rate_target: Option<f64>,
    pub notes: Vec<String>,
}

impl Report {
    /// Builds the report of a finished run.
    pub fn build(
        scenario: &'static str,
        targets: Vec<String>,
        connections: usize,
        threads: usize,
        warmup_s: f64,
        f: Finished,
    ) -> Self {
        let seconds = f.measured_s;
        let endpoints = Op::ALL
            .iter()
            .filter_map(|&op| f.stats.op(op).map(|s| (op.name(), Figures::of(s, seconds))))
            .collect();
        let mut notes = f.notes;
        let total = Figures::of(&f.stats.total(), seconds);
        if let Some(rate) = f.rate_target
            && total.requests_per_sec < rate * 0.95
        {
            notes.push(format!(
                "sent {:.0} req/s of the {rate:.0} asked: the service (or the tool) could not keep up; latency counts from the schedule",
                total.requests_per_sec
            ));
        }
        if total.errors_by_status.iter().any(|e| e.code == Some(40401)) {
            notes.push("40401 answers: members expired between heartbeats (each user beats every users/rate seconds; keep that under the member timeout, 15 s by default) or rooms were deleted".into());
        }
        if total.requests == 0 {
            notes.push("no request finished in the measured window".into());
        }
        Self {
            scenario,
            targets,
            connections,
            threads,
            params: f.params,
            rate_target: f.rate_target,
            warmup_s,
            duration_s: (seconds * 1000.0).round() / 1000.0,
            total,
            endpoints,
            notes,
        }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let params = match &self.params {
            serde_json::Value::Object(m) => m
                .iter()
                // Nested figures (e.g. `webhooks`) are the scenario's notes in text.
                .filter(|(_, v)| !v.is_object())
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        let pace = match self.rate_target {
            Some(r) => format!("open loop at {r} req/s"),
            None => "back-to-back".into(),
        };
        let _ = writeln!(
            out,
            "{} against {} ({} connections, {} thread{}, {pace})",
            self.scenario,
            self.targets.join(", "),
            self.connections,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
        );
        let _ = writeln!(
            out,
            "  measured {:.1} s after {:.1} s warm-up; {params}",
            self.duration_s, self.warmup_s
        );
        write_figures(&mut out, "all", &self.total);
        if self.endpoints.len() > 1 {
            for (name, f) in &self.endpoints {
                write_figures(&mut out, name, f);
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out
    }
}

fn write_figures(out: &mut String, name: &str, f: &Figures) {
    let l = &f.latency_ms;
    let _ = writeln!(
        out,
        "  {name:<9} requests {:>9}  {:>9.1} req/s  ok {}  errors {}",
        f.requests, f.requests_per_sec, f.ok, f.errors
    );
    let _ = writeln!(
        out,
        "  {:<9} latency ms  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
        "", l.p50, l.p90, l.p99, l.p99_9, l.max, l.mean
    );
    if f.errors > 0 {
        let mut parts: Vec<String> = f
            .errors_by_status
            .iter()
            .map(|e| match e.code {
                Some(c) => format!("HTTP {} code {c} × {}", e.status, e.count),
                None => format!("HTTP {} (no envelope) × {}", e.status, e.count),
            })
            .collect();
        parts.extend(
            f.transport_errors
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("transport {k} × {n}")),
        );
        let _ = writeln!(out, "  {:<9} errors: {}", "", parts.join(", "));
    }
}
