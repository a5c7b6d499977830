//! `liveroom-loadtest`: load generator for the liveroom service.
//!
//! Scenarios (see `loadtest/README.md`): `viewers` (a realistic audience),
//! `heartbeat-max` and `join-churn` (as fast as the service answers, or open loop at
//! `--rate`), `heartbeat-compare` (several servers' heartbeat throughput on one
//! Redis, taking turns), `livez-max` (the HTTP baseline), `sse` (client event streams: fan-out
//! cost and change-to-delivery latency). Progress on stderr once per second;
//! the report on stdout, as text or one JSON object (`--json`).
//!
//! Built to stay out of the service's way on a shared machine: tokens are minted
//! before the run, each worker keeps its own keep-alive connections (hyper 1,
//! HTTP/1.1), requests are assembled from pre-built parts, answers are classified
//! by status and a byte scan for the envelope's `code`, and latencies go to
//! per-worker HdrHistograms merged at the end.

mod cli;
mod http;
mod report;
mod run;
mod scenarios;
mod sse;
mod stats;
mod tokens;
mod webhooks;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(e) = cli.common.check().and_then(|()| cli.scenario.check()) {
        eprintln!("liveroom-loadtest: {e}");
        return ExitCode::from(2);
    }
    let mut builder = if cli.common.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(cli.common.threads);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("liveroom-loadtest: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.common.json;
    if let cli::Scenario::Sse(args) = cli.scenario {
        let result = runtime.block_on(sse::run(cli.common, args));
        runtime.shutdown_background();
        return finish(result.map(|r| (serde_json::to_string(&r), r.text())), json);
    }
    if let cli::Scenario::HeartbeatCompare(args) = cli.scenario {
        let result = runtime.block_on(scenarios::compare(cli.common, args));
        runtime.shutdown_background();
        return finish(result.map(|r| (serde_json::to_string(&r), r.text())), json);
    }
    let result = runtime.block_on(scenarios::run(cli.common, cli.scenario));
    // Connection tasks may still be open: do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("the report serializes")
                );
            } else {
                print!("{}", report.text());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("liveroom-loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a finished report (its JSON or its text, as `--json` asks) or the error,
/// and the exit code that goes with it.
fn finish(result: Result<(serde_json::Result<String>, String), String>, json: bool) -> ExitCode {
    match result {
        Ok((as_json, text)) => {
            if json {
                println!("{}", as_json.expect("the report serializes"));
            } else {
                print!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("liveroom-loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}
