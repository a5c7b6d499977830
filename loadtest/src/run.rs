//! The clock of one run: warm-up, measured window, end, Ctrl-C, and the live
//! progress line.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::http::Outcome;
use crate::stats::{Op, Stats};

/// Shared by every task of a run.
pub struct Run {
    /// When traffic started (after setup).
    pub start: Instant,
    /// Requests finishing from here on are measured (start + warm-up).
    pub measure_from: Instant,
    /// Planned end: measured window = [measure_from, end].
    pub end: Instant,
    stopped: AtomicBool,
    stopped_at: Mutex<Option<Instant>>,
    stop_tx: watch::Sender<bool>,
    requests: AtomicU64,
    errors: AtomicU64,
}

impl Run {
    /// Starts the clock now.
    pub fn begin(warmup: Duration, duration: Duration) -> Arc<Self> {
        let start = Instant::now();
        Arc::new(Self {
            start,
            measure_from: start + warmup,
            end: start + warmup + duration,
            stopped: AtomicBool::new(false),
            stopped_at: Mutex::new(None),
            stop_tx: watch::Sender::new(false),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    /// Whether the run has ended (time is up or Ctrl-C).
    pub fn over(&self) -> bool {
        self.stopped.load(Relaxed) || Instant::now() >= self.end
    }

    /// Ends the run early (Ctrl-C): workers finish their request in flight and stop.
    pub fn stop(&self) {
        self.stopped_at
            .lock()
            .expect("stop lock")
            .get_or_insert_with(Instant::now);
        self.stopped.store(true, Relaxed);
        self.stop_tx.send_replace(true);
    }

    /// Sleeps until `t` (at most until the end); false when the run is over by then.
    pub async fn sleep_until(&self, t: Instant) -> bool {
        let mut rx = self.stop_tx.subscribe();
        if *rx.borrow_and_update() {
            return false;
        }
        let until = t.min(self.end);
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = rx.changed() => return false,
        }
        !self.over()
    }

    /// Records a finished request started at `started` (its scheduled time in open
    /// loop) into `stats` when it finished inside the measured window; the progress
    /// counters count every request.
    pub fn record(&self, stats: &mut Stats, op: Op, outcome: &Outcome, started: Instant) {
        let now = Instant::now();
        self.requests.fetch_add(1, Relaxed);
        if !outcome.is_ok() {
            self.errors.fetch_add(1, Relaxed);
        }
        if now >= self.measure_from && now <= self.end {
            stats.record(op, outcome, now.saturating_duration_since(started));
        }
    }

    /// Length of the measured window actually run (shorter after Ctrl-C).
    pub fn measured(&self) -> Duration {
        let stopped = *self.stopped_at.lock().expect("stop lock");
        let until = stopped.map_or(self.end, |s| s.min(self.end));
        until.saturating_duration_since(self.measure_from)
    }

    /// Ends the run on the first Ctrl-C (the report still prints); a second one exits.
    pub fn stop_on_ctrl_c(self: &Arc<Self>) {
        let run = self.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("stopping (Ctrl-C again to quit at once)");
                run.stop();
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }

    /// Prints a progress line on stderr once per second until the run is over.
    pub fn spawn_progress(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let run = self.clone();
        tokio::spawn(async move {
            let mut last = 0u64;
            let mut tick = tokio::time::interval_at(
                run.start + Duration::from_secs(1),
                Duration::from_secs(1),
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                if run.over() {
                    break;
                }
                let now = Instant::now();
                let requests = run.requests.load(Relaxed);
                let errors = run.errors.load(Relaxed);
                let phase = if now < run.measure_from {
                    "  (warm-up)"
                } else {
                    ""
                };
                eprintln!(
                    "{:>7.1}s  requests {requests:>10}  last 1s {:>8} req/s  errors {errors}{phase}",
                    now.duration_since(run.start).as_secs_f64(),
                    requests - last,
                );
                last = requests;
            }
        })
    }
}
