//! Media-server hooks (docs/SPEC.md §12) with real parts: nginx with the RTMP module
//! started as a plain process on free loopback ports and wired to a real `liveroom
//! serve` replica, and ffmpeg pushing a generated test pattern (`nginx.rs`); SRS's
//! hooks with requests in SRS's documented JSON shape (`srs.rs`). Needs `nginx`,
//! `libnginx-mod-rtmp` and `ffmpeg` (`scripts/setup --with-media`).

mod nginx;
mod srs;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The hook secret of every media test.
pub const HOOK_SECRET: &str = "media-hook-secret-0123456789";

/// The publish key of every media test.
pub const PUBLISH_KEY: &str = "media-test-publish-key";

/// The RTMP module Debian's `libnginx-mod-rtmp` installs.
const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

fn nginx_bin() -> String {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nginx")
        .to_owned()
}

/// nginx-rtmp as a plain process (`daemon off; master_process off;`): one RTMP
/// application `live` on a free loopback port whose `on_publish`, `on_update` (every
/// `update`) and `on_publish_done` call `hooks` (the full hook URL). Killed on drop.
pub struct NginxRtmp {
    dir: PathBuf,
    child: Option<Child>,
}

impl NginxRtmp {
    /// The port to give `LIVEROOM_PUBLISH_URL` before the server starts.
    pub fn reserve_port() -> u16 {
        liveroom::redis_child::free_port().unwrap()
    }

    /// Starts nginx on `port`, calling `hooks`; waits until the port accepts.
    pub fn start(port: u16, hooks: &str, update: &str) -> Self {
        assert!(
            std::path::Path::new(RTMP_MODULE).exists(),
            "{RTMP_MODULE} is missing: scripts/setup --with-media installs nginx's RTMP module"
        );
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("nginx-rtmp-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let conf = format!(
            "load_module {RTMP_MODULE};\n\
             daemon off;\nmaster_process off;\nworker_processes 1;\n\
             pid {dir}/nginx.pid;\n\
             # warn: nginx-rtmp logs each hook URL (and its secret) at info.\n\
             error_log {dir}/logs/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             rtmp {{\n  server {{\n    listen 127.0.0.1:{port};\n\
             \x20   application live {{\n      live on;\n\
             \x20     on_publish {hooks};\n      on_update {hooks};\n\
             \x20     on_publish_done {hooks};\n      notify_update_timeout {update};\n\
             \x20   }}\n  }}\n}}\n",
            dir = dir.display(),
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("logs/stderr.log")).unwrap())
            .spawn()
            .expect("start nginx (scripts/setup --with-media)");
        let server = Self {
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx-rtmp did not listen on {port}: {}",
                std::fs::read_to_string(server.dir.join("logs/stderr.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for NginxRtmp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An ffmpeg pushing a generated test pattern (160x120, 10 fps, H.264) to `url`,
/// killed on drop.
pub struct Push {
    child: Option<Child>,
}

impl Push {
    /// Starts ffmpeg publishing to `url`.
    pub fn start(url: &str) -> Self {
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args(["-g", "10", "-f", "flv", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ffmpeg (scripts/setup --with-media)");
        Self { child: Some(child) }
    }

    /// Waits at most `limit` for ffmpeg to exit: `Some((success, its error output))`,
    /// `None` while it still runs (a publish that was accepted).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(bool, String)> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut()?;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut err);
                }
                self.child = None;
                return Some((status.success(), err));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether ffmpeg still runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Stops ffmpeg as an encoder quits (SIGTERM: it closes the stream), waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: a signal to our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Push {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A push URL for `live_id` signed with [`PUBLISH_KEY`] under `publish_url`,
/// expiring at `expire` (Unix s; 0: in an hour), as the service signs it (SPEC §8).
pub fn signed_url(publish_url: &str, live_id: &str, expire: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let urls = liveroom::stream_urls::StreamUrls {
        publish_url: publish_url.to_owned(),
        publish_key: PUBLISH_KEY.to_owned(),
        publish_ttl_secs: 3600,
        rtmp_play_url: String::new(),
        flv_play_url: String::new(),
        hls_play_url: String::new(),
    };
    if expire == 0 {
        urls.push_url(live_id, now + 3600, now)
    } else {
        // push_url never signs a past expiry: sign one and put the past one in.
        let url = urls.push_url(live_id, now + 3600, now);
        let base = url.split('?').next().unwrap().to_owned();
        let token = expired_token(&urls, live_id, expire);
        format!("{base}?expire={expire}&token={token}")
    }
}

/// The token of `live_id`'s URL with expiry `expire` (any, even past).
fn expired_token(urls: &liveroom::stream_urls::StreamUrls, live_id: &str, expire: i64) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let path = format!(
        "/{}/{live_id}?expire={expire}",
        urls.publish_url
            .split_once("://")
            .map_or("", |(_, rest)| rest)
            .split_once('/')
            .map_or("", |(_, path)| path)
            .trim_matches('/')
    );
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(urls.publish_key.as_bytes()).unwrap();
    mac.update(path.as_bytes());
    base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes())
}

/// The value of metric line `name` (labels included) in `/metrics` text; 0 when absent.
pub fn metric(text: &str, name: &str) -> f64 {
    crate::sse::metric(text, name)
}

/// `liveroom_media_publish_refused_total{reason="…"}`.
pub fn refused(text: &str, reason: &str) -> f64 {
    metric(
        text,
        &format!("liveroom_media_publish_refused_total{{reason=\"{reason}\"}}"),
    )
}
