//! The `liveroom` binary: parses the command line and hands over to the library.

use clap::Parser;

/// mimalloc: the request path allocates small objects across threads, where it
/// measured clearly faster than the system allocator (README, performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use liveroom::config::{Cli, Command, DEV_JWT_SECRET};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(config) => liveroom::server::serve(*config).await,
        Command::Token(args) => {
            let secret = match args.jwt_secret.as_deref() {
                Some(secret) if !secret.is_empty() => secret,
                _ => DEV_JWT_SECRET,
            };
            liveroom::auth::TokenMinter::hs256(
                secret,
                args.issuer.as_deref(),
                args.audience.as_deref(),
            )
            .and_then(|minter| {
                minter.mint(
                    &args.user,
                    args.nick.as_deref(),
                    args.avatar.as_deref(),
                    args.ttl,
                )
            })
            .map(|token| println!("{token}"))
        }
        Command::ServerToken(args) => args.mint().map(|token| println!("{token}")),
        Command::Webhooks(command) => liveroom::webhooks::cli::run(command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("liveroom: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
