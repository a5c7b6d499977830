//! `liveroom webhooks …`: development and operations tools around webhook delivery.

use clap::Subcommand;

/// The `liveroom webhooks` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {}

/// Runs a `liveroom webhooks` subcommand. Errors are text for the user.
pub async fn run(command: WebhooksCommand) -> Result<(), String> {
    match command {}
}
