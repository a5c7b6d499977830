//! `liveroom serve`: connects to Redis (or starts a private `redis-server`), serves
//! HTTP, and shuts down gracefully on SIGINT / SIGTERM.

use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::mint_token;
use crate::config::{DEV_JWT_SECRET, ServeConfig};
use crate::redis_child::RedisChild;
use crate::store::Store;
use crate::{AppState, app};

/// Installs the global log subscriber: `pretty` or `json` lines, level from `RUST_LOG`
/// (default `info`).
pub fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs the service until SIGINT / SIGTERM. Errors are start-up failures, as text.
pub async fn serve(config: ServeConfig) -> Result<(), String> {
    init_logging(&config.log_format);
    let private_redis;
    let redis_url = match &config.redis_url {
        Some(url) => url.clone(),
        None => {
            let child = RedisChild::start(&[])?;
            tracing::warn!(
                url = %child.url(),
                "LIVEROOM_REDIS_URL is unset: started a private redis-server (no persistence); it stops with this process"
            );
            let url = child.url();
            private_redis = Some(child);
            let _ = &private_redis;
            url
        }
    };
    let secret = match &config.jwt_secret {
        Some(s) if !s.is_empty() => s.clone(),
        _ => {
            tracing::warn!(
                "LIVEROOM_JWT_SECRET is unset: using the development secret; never do this in production"
            );
            let day = Duration::from_secs(24 * 3600);
            for (user, nick) in [("alice", "Alice"), ("bob", "Bob")] {
                let token = mint_token(DEV_JWT_SECRET, user, Some(nick), None, day)?;
                println!("development token for {user} (24h): {token}");
            }
            DEV_JWT_SECRET.to_owned()
        }
    };
    let store = Store::connect(
        &redis_url,
        &config.key_prefix,
        config.member_timeout,
        config.redis_timeout,
    )
    .await
    .map_err(|e| format!("cannot connect to Redis at {}: {e}", redact(&redis_url)))?;
    let state = AppState::new(store, &config, &secret)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(listen = %config.listen, redis = %redact(&redis_url), "liveroom serving");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("liveroom stopped");
    Ok(())
}

/// Hides a password in a Redis URL for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received: draining");
}
