//! `liveroom serve`: connects to Redis (or starts a private `redis-server`), serves
//! HTTP, and shuts down gracefully on SIGINT / SIGTERM.

use std::time::Duration;

use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{DEFAULT_TOKEN_TTL, TokenMinter};
use crate::config::ServeConfig;
use crate::reaper::{self, ReaperConfig};
use crate::redis_child::RedisChild;
use crate::redis_conn::RedisMode;
use crate::store::Store;
use crate::webhooks::WebhookSettings;
use crate::webhooks::deliver::{self, DeliverOptions};
use crate::{AppState, app};

/// Runs the service until SIGINT / SIGTERM. Errors are start-up failures, as text.
///
/// Shutdown: the signal marks the replica draining (`/readyz` fails), stops
/// accepting, lets in-flight requests finish for at most `LIVEROOM_SHUTDOWN_TIMEOUT`,
/// stops the reaper and webhook delivery and releases their leases (another replica
/// takes over at once), then stops the private `redis-server` if one was started.
/// Webhook settings are checked first: a bad one is an error naming it.
pub async fn serve(config: ServeConfig) -> Result<(), String> {
    crate::logging::init(&config.log_format);
    config.check()?;
    let webhooks = WebhookSettings::from_config(&config.webhooks)?;
    if config.heartbeat_interval.is_none() {
        tracing::info!(
            heartbeat_interval = ?config.heartbeat_interval(),
            member_timeout = ?config.member_timeout,
            "LIVEROOM_HEARTBEAT_INTERVAL is unset: telling clients a third of LIVEROOM_MEMBER_TIMEOUT"
        );
    }
    let mut private_redis: Option<RedisChild> = None;
    let mut private_url = None;
    if config.redis_url.is_none() && config.redis_mode == RedisMode::Standalone {
        let child = RedisChild::start(&[])?;
        tracing::warn!(
            url = %child.url(),
            "LIVEROOM_REDIS_URL is unset: started a private redis-server (no persistence); it stops with this process"
        );
        private_url = Some(child.url());
        private_redis = Some(child);
    }
    let target = config.redis_target(private_url.as_deref())?;
    let secret = config.jwt_secret().to_owned();
    let listen = config.listen_addr();
    if config.uses_dev_secret() {
        if config.listen.is_none() {
            tracing::warn!(
                %listen,
                "LIVEROOM_JWT_SECRET is unset: using the public development secret, so listening on 127.0.0.1 only; set LIVEROOM_JWT_SECRET (or LIVEROOM_LISTEN) to serve the network"
            );
        } else if listen.ip().is_loopback() {
            tracing::warn!(
                %listen,
                "LIVEROOM_JWT_SECRET is unset: using the public development secret; never do this in production"
            );
        } else {
            tracing::warn!(
                %listen,
                "LIVEROOM_JWT_SECRET is unset and LIVEROOM_LISTEN is reachable from the network: anyone can sign in with the public development secret; never do this in production"
            );
        }
    }
    let store = Store::connect_to(
        &target,
        &config.key_prefix,
        config.member_timeout,
        config.redis_timeout,
    )
    .await
    .map_err(|e| format!("cannot connect to Redis ({}): {e}", target.redacted()))?
    .with_webhook_marks(webhooks.is_some());
    let state = AppState::new(store.clone(), &config, &secret)?;
    let draining = state.draining.clone();
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    // Ready-made tokens only where the development secret cannot be reached from the
    // network (the secret is public; these just save a `liveroom token`).
    if config.prints_dev_tokens() {
        let minter = TokenMinter::hs256(
            &secret,
            config.jwt_issuer.as_deref(),
            config.jwt_audience.as_deref(),
        )?;
        let hours = DEFAULT_TOKEN_TTL.as_secs() / 3600;
        for (user, nick) in [("alice", "Alice"), ("bob", "Bob")] {
            let token = minter.mint(user, Some(nick), None, DEFAULT_TOKEN_TTL)?;
            println!("development token for {user} ({hours}h): {token}");
        }
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let reaper_config = ReaperConfig {
        replica_id: config.replica_id(),
        lease_ttl: config.lease_ttl,
        interval: config.reaper_interval,
        anchor_close_after: config.anchor_close_after,
    };
    tracing::info!(
        %listen,
        redis = %target.redacted(),
        replica = %reaper_config.replica_id,
        "liveroom serving"
    );
    let deliverer = webhooks.map(|settings| {
        let options = DeliverOptions::from_config(&config, &reaper_config.replica_id);
        tokio::spawn(deliver::run(
            store.clone(),
            settings,
            options,
            stop_rx.clone(),
        ))
    });
    let reaper = tokio::spawn(reaper::run(store, reaper_config, stop_rx.clone()));

    let signal = async move {
        shutdown_signal().await;
        draining.store(true, Ordering::SeqCst);
        let _ = stop_tx.send(true);
    };
    let mut drain_rx = stop_rx.clone();
    let server =
        crate::http_server::serve(listener, app(state), config.header_read_timeout, signal);
    let drain_limit = async move {
        let _ = drain_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(config.shutdown_timeout).await;
    };
    tokio::select! {
        () = server => {}
        _ = drain_limit => tracing::warn!(
            timeout = ?config.shutdown_timeout,
            "in-flight requests did not finish within LIVEROOM_SHUTDOWN_TIMEOUT; exiting anyway"
        ),
    }
    if tokio::time::timeout(Duration::from_secs(5), reaper)
        .await
        .is_err()
    {
        tracing::warn!("reaper did not stop within 5 s");
    }
    if let Some(deliverer) = deliverer
        && tokio::time::timeout(Duration::from_secs(10), deliverer)
            .await
            .is_err()
    {
        tracing::warn!("webhook delivery did not stop within 10 s");
    }
    drop(private_redis);
    tracing::info!("liveroom stopped");
    Ok(())
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
