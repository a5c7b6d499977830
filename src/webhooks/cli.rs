//! `liveroom webhooks …`: development and operations tools around webhook delivery
//! (SPEC §10 "Webhooks"): [`listen`](super::listen) receives, verifies and prints
//! deliveries; [`redeliver`](super::redeliver) re-sends dead-lettered ones.

use clap::Subcommand;

use super::listen::ListenArgs;
use super::redeliver::RedeliverArgs;

/// The `liveroom webhooks` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Development receiver: accepts deliveries on 127.0.0.1 (POST, any path),
    /// verifies their signature and content type, and prints one line per event
    /// (`--json`: the body). Duplicate ids are marked. Ctrl-C stops it.
    Listen(ListenArgs),
    /// Re-sends dead-lettered deliveries (exact body, freshly signed) to their
    /// receiver or `--to`; removes each one answered 2xx, keeps the others. Exits
    /// non-zero when any failed. `--list` only prints them.
    Redeliver(Box<RedeliverArgs>),
}

/// Runs a `liveroom webhooks` subcommand. Errors are text for the user.
pub async fn run(command: WebhooksCommand) -> Result<(), String> {
    match command {
        WebhooksCommand::Listen(args) => super::listen::run(args).await,
        WebhooksCommand::Redeliver(args) => super::redeliver::run(*args).await,
    }
}
