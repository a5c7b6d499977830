//! First use, as a new user meets it: `scripts/setup` on a fresh Debian,
//! `scripts/run`'s first build, and the README's walk-through run by
//! `scripts/walkthrough` against a real app.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{SECRET, TestApp, TestRedis};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The walk-through block of the README, as `scripts/walkthrough` extracts it.
fn readme_block() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("<!-- walkthrough:start")
        .expect("walk-through start marker");
    let end = readme
        .find("<!-- walkthrough:end")
        .expect("walk-through end marker");
    let block = &readme[start..end];
    let body = block
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .expect("a sh block between the markers")
        .0;
    body.lines().map(str::to_owned).collect()
}

/// `scripts/walkthrough` runs exactly the README's block against a real app and
/// prints every command as it could be pasted: URLs quoted, Bearer headers, and the
/// room id captured from the create answer.
#[tokio::test]
async fn walkthrough_runs_the_readme_block_as_written() {
    let app = TestApp::start().await;
    let bin = env!("CARGO_BIN_EXE_liveroom");
    let out = tokio::process::Command::new(repo().join("scripts/walkthrough"))
        .env("B", &app.base)
        .env("LIVEROOM_BIN", bin)
        .env("LIVEROOM_JWT_SECRET", SECRET)
        .env_remove("LIVEROOM_JWT_ISSUER")
        .env_remove("LIVEROOM_JWT_AUDIENCE")
        .output()
        .await
        .expect("scripts/walkthrough");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .collect();
    let commands: Vec<String> = readme_block()
        .into_iter()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.replace("target/release/liveroom", bin))
        .collect();
    assert_eq!(printed, commands, "printed commands are the README's");
    for command in commands.iter().filter(|c| c.contains("curl")) {
        assert!(
            command.contains("\"$B/client/"),
            "URL not quoted: {command}"
        );
        assert!(
            command.contains("-H \"Authorization: Bearer $"),
            "no Bearer header: {command}"
        );
    }
    assert!(
        !readme_block().iter().any(|l| l.contains("live_…")),
        "the README still asks to copy the id by hand"
    );
    // Each answer follows its command: created, live, four present, then gone.
    let answers: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(answers.len() >= 14, "{stdout}");
    let (last, rest) = answers.split_last().unwrap();
    assert!(rest.iter().all(|a| a["code"] == 0), "{stdout}");
    assert_eq!(last["code"], 40400, "the deleted room is gone");
    let live_id = answers[0]["data"]["live_id"].as_str().unwrap();
    assert!(live_id.starts_with("live_"), "{live_id}");
    assert!(
        answers
            .iter()
            .any(|a| a["data"]["live_id"] == live_id && a["data"]["online_count"] == 4),
        "info shows four present: {stdout}"
    );
}

/// The README's walk-through with `liveroom webhooks listen` beside it, as the README
/// shows: the listener verifies and prints every event of the room's life, once each,
/// in order — from creation to deletion.
#[tokio::test]
async fn the_walkthrough_with_webhooks_listen_prints_the_rooms_whole_life() {
    use crate::webhooks_tools::{Listener, SECRET as WEBHOOK_SECRET};
    let mut listener = Listener::start(&[]).await;
    let url = format!("{}/webhooks", listener.base);
    let app = TestApp::init()
        .with_config(|c| {
            c.webhooks.urls = vec![url];
            c.webhooks.secret = Some(WEBHOOK_SECRET.into());
            c.webhooks.events = "all".into();
            c.webhooks.poll_interval = std::time::Duration::from_millis(50);
        })
        .spawn()
        .await;
    let out = tokio::process::Command::new(repo().join("scripts/walkthrough"))
        .env("B", &app.base)
        .env("LIVEROOM_BIN", env!("CARGO_BIN_EXE_liveroom"))
        .env("LIVEROOM_JWT_SECRET", SECRET)
        .env_remove("LIVEROOM_JWT_ISSUER")
        .env_remove("LIVEROOM_JWT_AUDIENCE")
        .output()
        .await
        .expect("scripts/walkthrough");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = Vec::new();
    while let Some(line) = listener.next_line(std::time::Duration::from_secs(20)).await {
        let done = line.contains("room_deleted");
        printed.push(line);
        if done {
            break;
        }
    }
    let names: Vec<&str> = printed
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "room_created",
            "room_started",
            "member_joined", // alice, present as she starts
            "member_joined", // bob
            "member_joined", // carol
            "member_joined", // dave
            "member_left",   // dave leaves
            "room_stopped",
            "room_deleted",
        ],
        "{printed:#?}"
    );
    assert!(printed[6].contains("user=dave") && printed[6].contains("reason=leave"));
    assert!(printed[7].contains("reason=anchor"), "{}", printed[7]);
    assert!(!printed.iter().any(|l| l.contains("(duplicate)")));
    drop(app);
    let (_, _, stderr) = listener.stop().await;
    assert!(stderr.contains("deliveries refused: 0"), "{stderr}");
}

/// A directory of stand-ins for a fresh Debian: only the tools the scripts use
/// before they install anything, plus `apt-get`, `cargo` and `redis-server` stubs
/// that record how they were called.
fn fresh_debian(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["bash", "sed", "id", "dirname", "cat"] {
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} not found"));
        std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
    }
    let log = dir.join("calls.log");
    let stub = |name: &str, body: &str| {
        let path = bin.join(name);
        std::fs::write(
            &path,
            format!(
                "#!{}/bash\necho \"{name} $*\" >>'{}'\n{body}\n",
                bin.display(),
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    stub("apt-get", "exit 0");
    stub("sudo", "exec \"$@\"");
    stub("redis-server", "echo 'Redis server v=7.0.15 sha=0'");
    stub("redis-cli", "exit 0");
    stub(
        "cargo",
        r#"[[ $1 == --version ]] && echo 'cargo 1.95.0'; [[ $1 == build ]] && exit 3; exit 0"#,
    );
    bin
}

/// On a machine with neither a C compiler, pkg-config nor curl, `scripts/setup`
/// installs them (and says so); `scripts/run` then says it is building and lets
/// cargo show its progress (no `--quiet`).
#[test]
fn setup_installs_the_build_tools_and_run_shows_the_build() {
    let dir = std::env::temp_dir().join(format!("liveroom-first-use-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = fresh_debian(&dir);
    let setup = Command::new(bin.join("bash"))
        .arg(repo().join("scripts/setup"))
        .env_clear()
        .env("PATH", &bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&setup.stderr);
    assert!(setup.status.success(), "{stderr}");
    let calls = std::fs::read_to_string(dir.join("calls.log")).unwrap();
    let install = calls
        .lines()
        .find(|l| l.starts_with("apt-get install"))
        .unwrap_or_else(|| panic!("no apt-get install: {calls}"));
    for package in ["gcc", "libc6-dev", "pkg-config", "curl", "openssl"] {
        assert!(
            install.split_whitespace().any(|w| w == package),
            "{package} not installed: {install}"
        );
    }
    assert!(stderr.contains("setup: installing"), "{stderr}");

    std::fs::remove_file(dir.join("calls.log")).unwrap();
    let run = Command::new(bin.join("bash"))
        .arg(repo().join("scripts/run"))
        .env_clear()
        .env("PATH", &bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "the stub build fails: {stderr}");
    assert!(
        stderr.contains("building (the first build takes a few minutes)"),
        "{stderr}"
    );
    let calls = std::fs::read_to_string(dir.join("calls.log")).unwrap();
    let build = calls
        .lines()
        .find(|l| l.starts_with("cargo build"))
        .unwrap_or_else(|| panic!("no cargo build: {calls}"));
    assert!(
        !build.contains("--quiet") && !build.contains(" -q"),
        "{build}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `liveroom serve` with the development secret (`LIVEROOM_JWT_SECRET` empty) and
/// `listen` (unset when `None`) against an unreachable Redis: the listen address is
/// decided and logged before connecting, then start-up fails. Returns stderr.
fn dev_serve_stderr(listen: Option<&str>) -> String {
    let port = liveroom::redis_child::free_port().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_liveroom"));
    cmd.arg("serve")
        .env_remove("LIVEROOM_LISTEN")
        .env("LIVEROOM_JWT_SECRET", "")
        .env("LIVEROOM_LOG_FORMAT", "json")
        .env("LIVEROOM_REDIS_MODE", "standalone")
        .env("LIVEROOM_REDIS_URL", format!("redis://127.0.0.1:{port}"))
        .env("LIVEROOM_REDIS_TIMEOUT", "300ms");
    if let Some(listen) = listen {
        cmd.env("LIVEROOM_LISTEN", listen);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "no Redis, yet it started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// With the development secret and `LIVEROOM_LISTEN` unset, the service listens on
/// 127.0.0.1 and says so; set explicitly to a network address, it warns that the
/// public secret lets anyone in (and prints no tokens: `prints_dev_tokens`, unit-tested).
#[test]
fn development_secret_listens_on_loopback_unless_told() {
    let unset = dev_serve_stderr(None);
    assert!(
        unset.contains("listening on 127.0.0.1 only")
            && unset.contains("\"listen\":\"127.0.0.1:8080\""),
        "{unset}"
    );
    let network = dev_serve_stderr(Some("0.0.0.0:8080"));
    assert!(
        network.contains("reachable from the network")
            && network.contains("\"listen\":\"0.0.0.0:8080\""),
        "{network}"
    );
}

/// The development tokens printed at start-up carry the configured issuer and
/// audience, so the service accepts them (before: `token issuer not accepted`).
#[tokio::test]
async fn start_up_tokens_carry_the_configured_issuer_and_audience() {
    let redis = TestRedis::private();
    let port = liveroom::redis_child::free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let env = [
        ("LIVEROOM_LISTEN", listen.as_str()),
        ("LIVEROOM_JWT_ISSUER", "me"),
        ("LIVEROOM_JWT_AUDIENCE", "app"),
    ];
    // Reads the two token lines, then asks the still-running service.
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .arg("serve")
        .env("LIVEROOM_JWT_SECRET", "")
        .env("RUST_LOG", "warn")
        .envs(redis.env())
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn liveroom serve");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut tokens = Vec::new();
    while tokens.len() < 2 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), stdout.next_line())
            .await
            .expect("tokens printed")
            .unwrap()
            .expect("a token line");
        let (label, token) = line.rsplit_once(": ").expect("label: token");
        assert!(label.ends_with("(24h)"), "{line}");
        tokens.push((label.to_owned(), token.to_owned()));
    }
    let client = crate::harness::http();
    for (label, token) in &tokens {
        let r: serde_json::Value = client
            .get(format!("http://{listen}/client/user/profile"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["code"], 0, "{label}: {r}");
    }
    let _ = child.start_kill();
}
