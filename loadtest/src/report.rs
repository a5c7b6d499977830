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
    /// The figures of `s` over a measured window of `seconds`.
    pub(crate) fn of(s: &OpStats, seconds: f64) -> Self {
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

/// One measured server of `heartbeat-compare`.
#[derive(Debug, Serialize)]
pub struct Side {
    pub name: String,
    pub url: String,
    /// Over every round: all its requests ÷ all its measured time.
    #[serde(flatten)]
    pub figures: Figures,
    /// Throughput of each round, req/s.
    pub rounds_per_sec: Vec<f64>,
    /// CPU time of the server's process (`NAME:PID=URL`) per request in its measured
    /// windows, µs (user + system, every thread; `/proc/PID/stat`, 10 ms ticks).
    pub cpu_us_per_request: Option<f64>,
    /// Throughput ÷ the first server's, over every round (1 for the first).
    pub ratio: f64,
    /// Median over the rounds of (this round's throughput ÷ the first server's in the
    /// same round): robust to a round disturbed by the machine.
    pub ratio_median: f64,
    /// Each round's ratio.
    pub ratio_rounds: Vec<f64>,
}

impl Side {
    /// A side's figures; ratios are filled in by [`CompareReport::build`].
    pub fn build(
        name: String,
        url: String,
        stats: &Stats,
        measured_s: f64,
        rounds: Vec<f64>,
        cpu_us_per_request: Option<f64>,
    ) -> Self {
        Self {
            name,
            url,
            figures: Figures::of(&stats.total(), measured_s),
            rounds_per_sec: rounds.iter().map(|r| (r * 10.0).round() / 10.0).collect(),
            cpu_us_per_request,
            ratio: 1.0,
            ratio_median: 1.0,
            ratio_rounds: Vec::new(),
        }
    }
}

/// The report of `heartbeat-compare`.
#[derive(Debug, Serialize)]
pub struct CompareReport {
    pub scenario: &'static str,
    /// Where rooms and members were set up.
    pub setup_target: String,
    pub connections: usize,
    pub threads: usize,
    pub params: serde_json::Value,
    /// Warm-up of each measured window.
    pub warmup_s: f64,
    /// Length of each measured window.
    pub window_s: f64,
    pub sides: Vec<Side>,
    pub notes: Vec<String>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

impl CompareReport {
    /// The report, with each side's ratios to the first.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        setup_target: String,
        connections: usize,
        threads: usize,
        warmup_s: f64,
        window_s: f64,
        params: serde_json::Value,
        mut sides: Vec<Side>,
        mut notes: Vec<String>,
    ) -> Self {
        if let Some(first) = sides.first() {
            let (base, base_rounds) =
                (first.figures.requests_per_sec, first.rounds_per_sec.clone());
            for side in &mut sides {
                let rounds: Vec<f64> = side
                    .rounds_per_sec
                    .iter()
                    .zip(&base_rounds)
                    .map(|(r, b)| if *b > 0.0 { round3(r / b) } else { 0.0 })
                    .collect();
                side.ratio = if base > 0.0 {
                    round3(side.figures.requests_per_sec / base)
                } else {
                    0.0
                };
                side.ratio_median = round3(median(rounds.clone()));
                side.ratio_rounds = rounds;
            }
        }
        for side in &sides {
            if side.figures.errors > 0 {
                notes.push(format!(
                    "{}: {} errors: its figures include refusals (is it on the same Redis, key prefix and secret as the setup target?)",
                    side.name, side.figures.errors
                ));
            }
        }
        Self {
            scenario: "heartbeat-compare",
            setup_target,
            connections,
            threads,
            params,
            warmup_s,
            window_s,
            sides,
            notes,
        }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let rounds = self.params["rounds"].as_u64().unwrap_or(0);
        let _ = writeln!(
            out,
            "heartbeat-compare: {} rounds of {:.1} s measured (+{:.1} s warm-up) per server, {} connections, {} thread{}; setup through {}",
            rounds,
            self.window_s,
            self.warmup_s,
            self.connections,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.setup_target,
        );
        let base = self.sides.first().map_or("", |s| s.name.as_str());
        for side in &self.sides {
            let _ = writeln!(out, "  {} ({})", side.name, side.url);
            write_figures(&mut out, "all", &side.figures);
            let per_round: Vec<String> = side
                .rounds_per_sec
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect();
            let _ = writeln!(out, "  {:<9} rounds req/s  {}", "", per_round.join("  "));
            if let Some(cpu) = side.cpu_us_per_request {
                let _ = writeln!(out, "  {:<9} server CPU {cpu:.2} µs per request", "");
            }
            let _ = writeln!(
                out,
                "  {:<9} ÷ {base}: {:.3} overall, {:.3} median of rounds ({})",
                "",
                side.ratio,
                side.ratio_median,
                side.ratio_rounds
                    .iter()
                    .map(|r| format!("{r:.3}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out
    }
}
