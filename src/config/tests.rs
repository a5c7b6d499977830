//! Tests of the command line and settings.

use super::*;

#[test]
fn durations_and_offsets_parse() {
    assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
    assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
    assert!(parse_duration("0s").is_err());
    assert!(parse_duration("soon").is_err());
    assert_eq!(parse_offset("+08:00").unwrap().local_minus_utc(), 8 * 3600);
    assert_eq!(
        parse_offset("-05:30").unwrap().local_minus_utc(),
        -(5 * 3600 + 1800)
    );
    assert!(parse_offset("8").is_err());
    assert!(parse_key_prefix("lr").is_ok());
    assert!(parse_key_prefix("a{b}").is_err());
}

fn serve(args: &[&str]) -> ServeConfig {
    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        config: ServeConfig,
    }
    let mut argv = vec!["liveroom"];
    argv.extend_from_slice(args);
    Only::try_parse_from(argv).unwrap().config
}

#[test]
fn development_secret_listens_on_loopback_unless_told() {
    // Flags only: the environment of the test run must not decide.
    let dev = serve(&["--jwt-secret", ""]);
    assert!(dev.uses_dev_secret());
    assert_eq!(dev.listen_addr(), "127.0.0.1:8080".parse().unwrap());
    let dev_explicit = serve(&["--jwt-secret", "", "--listen", "0.0.0.0:9000"]);
    assert_eq!(dev_explicit.listen_addr(), "0.0.0.0:9000".parse().unwrap());
    assert!(dev.prints_dev_tokens());
    assert!(!dev_explicit.prints_dev_tokens());
    let real = serve(&["--jwt-secret", "a-real-secret"]);
    assert!(!real.uses_dev_secret());
    assert_eq!(real.listen_addr(), "0.0.0.0:8080".parse().unwrap());
    assert!(!real.prints_dev_tokens());
}

#[test]
fn a_public_key_alone_turns_the_development_secret_off() {
    let pem = "--jwt-public-key=-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----";
    let key_only = serve(&["--jwt-secret", "", pem]);
    assert!(!key_only.accepts_hs256());
    assert!(!key_only.uses_dev_secret());
    assert!(!key_only.prints_dev_tokens());
    assert_eq!(key_only.listen_addr(), "0.0.0.0:8080".parse().unwrap());
    let both = serve(&["--jwt-secret", "a-real-secret", pem]);
    assert!(both.accepts_hs256() && !both.uses_dev_secret());
    let neither = serve(&["--jwt-secret", "", "--jwt-public-key", " "]);
    assert!(neither.accepts_hs256() && neither.uses_dev_secret());
}

#[test]
fn token_command_defaults_to_the_start_up_tokens_lifetime() {
    let cli = Cli::try_parse_from([
        "liveroom",
        "token",
        "--user",
        "alice",
        "--issuer",
        "i",
        "--audience",
        "a",
    ])
    .unwrap();
    let Command::Token(args) = cli.command else {
        panic!("not the token command")
    };
    assert_eq!(args.ttl, crate::auth::DEFAULT_TOKEN_TTL);
    assert_eq!(args.issuer.as_deref(), Some("i"));
    assert_eq!(args.audience.as_deref(), Some("a"));
}

/// Whether `text` names an internal issue or "the seed" (meaningless to a user).
fn internal_reference(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    // Built from parts, so this test's own source names no issue either.
    [
        concat!("issue", " #"),
        concat!("issue", "#"),
        concat!("the", " seed "),
        concat!("the", " seed's"),
        concat!("seed", "'s "),
    ]
    .into_iter()
    .find(|needle| lower.contains(needle))
    .map(|needle| {
        let at = lower.find(needle).unwrap_or(0);
        lower[at.saturating_sub(40)..(at + 40).min(lower.len())].to_owned()
    })
}

/// `--help`, the READMEs, the scripts' help and the log messages say what things
/// do, not which internal issue added them.
#[test]
fn user_facing_text_names_no_internal_issue() {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    let mut texts = vec![(
        "liveroom --help".to_owned(),
        cli.render_long_help().to_string(),
    )];
    for sub in cli.get_subcommands_mut() {
        let name = format!("liveroom {} --help", sub.get_name());
        texts.push((name, sub.render_long_help().to_string()));
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<std::path::PathBuf> = [
        "README.md",
        "loadtest/README.md",
        "deploy/README.md",
        "deploy/validate",
        "deploy/local/topology",
        "loadtest/bench",
        "loadtest/bench-shards",
        ".ci/run",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    for entry in std::fs::read_dir(root.join("scripts")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        texts.push((file.display().to_string(), text));
    }
    // Log messages and other literals in the code (doc comments are the --help above).
    let mut sources = vec![root.join("src")];
    while let Some(dir) = sources.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let code: String = std::fs::read_to_string(&path)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                texts.push((path.display().to_string(), code));
            }
        }
    }
    for (name, text) in &texts {
        if let Some(context) = internal_reference(text) {
            panic!("{name} names an internal issue: …{context}…");
        }
    }
    assert!(internal_reference(concat!("added by issue", " #7")).is_some());
}

#[test]
fn heartbeat_interval_follows_the_member_timeout_unless_set() {
    let default = serve(&[]);
    assert_eq!(default.heartbeat_interval(), Duration::from_secs(5));
    let short = serve(&["--member-timeout", "3s"]);
    assert_eq!(short.heartbeat_interval(), Duration::from_secs(1));
    assert_eq!(short.check(), Ok(()));
    let odd = serve(&["--member-timeout", "1s"]);
    assert_eq!(odd.heartbeat_interval(), Duration::from_millis(333));
    let set = serve(&["--member-timeout", "3s", "--heartbeat-interval", "2s"]);
    assert_eq!(set.heartbeat_interval(), Duration::from_secs(2));
    assert_eq!(set.check(), Ok(()));
    let too_long = serve(&["--member-timeout", "3s", "--heartbeat-interval", "5s"]);
    assert!(
        too_long
            .check()
            .unwrap_err()
            .contains("LIVEROOM_HEARTBEAT_INTERVAL")
    );
}

#[test]
fn defaults_match_spec() {
    let c = ServeConfig::defaults();
    assert_eq!(c.member_timeout, Duration::from_secs(15));
    assert_eq!(c.anchor_close_after, Duration::from_secs(600));
    assert_eq!(c.key_prefix, "lr");
}
