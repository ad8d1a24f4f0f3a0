//! A real cluster on loopback: one `nats-server -js` on a free port with its own store
//! directory, and `tonegate serve` processes (the binary) joined to it as one cluster,
//! with test timings (a 300 ms heartbeat, a 1.5 s node TTL).
//!
//! The cluster tests need the `nats-server` program (Debian package `nats-server`, which
//! `scripts/test` installs): without it they fail, saying so, and are never skipped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::LiveCall;
use super::logged::LoggedServe;
use super::wait_until;

/// Generous: processes start slowly on a busy machine.
const LIMIT: Duration = Duration::from_secs(30);

/// One `nats-server -js` on 127.0.0.1, killed on drop.
pub(crate) struct Nats {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
}

/// A directory of its own for each NATS server of this test process.
fn fresh_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("tonegate-nats-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `nats-server --version`; panics, saying how to install it, when it is missing.
fn nats_version() -> String {
    let out = Command::new("nats-server").arg("--version").output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(out) => panic!("nats-server --version failed: {out:?}"),
        Err(e) => panic!(
            "the cluster tests need nats-server, which is not installed ({e}): \
             scripts/test installs the Debian package (apt-get install nats-server)"
        ),
    }
}

impl Nats {
    /// Starts a NATS server with JetStream on a free loopback port.
    pub(crate) async fn start() -> Nats {
        Nats::start_with_file_store(None).await
    }

    /// Starts a NATS server with JetStream on a free loopback port, its file storage
    /// capped at `max_bytes` (the server's own default without).
    pub(crate) async fn start_with_file_store(max_bytes: Option<u64>) -> Nats {
        eprintln!("cluster test: {}", nats_version());
        // The test's own HTTP clients (reqwest without a default crypto provider) use
        // ring, as the server does; no server runs in this process to install it.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let dir = fresh_dir();
        if let Some(max_bytes) = max_bytes {
            let limit = format!("jetstream {{ max_file_store: {max_bytes} }}\n");
            std::fs::write(dir.join(CONFIG), limit).unwrap();
        }
        let child = spawn(&dir, "-1");
        let ports = dir.join(format!("nats-server_{}.ports", child.id()));
        // Killed on drop from here on, also if the wait below panics.
        let mut nats = Nats {
            child: Some(child),
            dir,
            port: 0,
        };
        let mut port = None;
        wait_until("nats-server's ports file", LIMIT, || {
            port = read_port(&ports);
            port.is_some()
        })
        .await;
        nats.port = port.unwrap();
        nats.wait_ready().await;
        nats
    }

    /// The client URL (`nats://127.0.0.1:<port>`).
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store directory.
    pub(crate) async fn restart(&mut self) {
        self.kill();
        self.child = Some(spawn(&self.dir, &self.port.to_string()));
        self.wait_ready().await;
    }

    /// Waits until the client port takes connections.
    async fn wait_ready(&self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = tokio::time::Instant::now() + LIMIT;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server never listened on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The name of the optional configuration file in a NATS server's directory.
const CONFIG: &str = "nats.conf";

/// `nats-server -js` on 127.0.0.1 port `port` (`-1`: any free one) storing in `dir`, with
/// the [`CONFIG`] file there if there is one.
fn spawn(dir: &Path, port: &str) -> Child {
    let store = dir.join("js");
    let mut command = Command::new("nats-server");
    let config = dir.join(CONFIG);
    if config.exists() {
        command.arg("-c").arg(config);
    }
    command
        .args(["-js", "-a", "127.0.0.1", "-p", port, "-sd"])
        .arg(&store)
        .arg("--ports_file_dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start nats-server: {e}"))
}

/// The client port from a ports file (`{"nats": ["nats://127.0.0.1:PORT"], ...}`).
fn read_port(path: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(path).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = ports["nats"][0].as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

/// One `tonegate serve` of the cluster; SIGKILLed on drop.
pub(crate) struct Node {
    /// Its `cluster_node_id`.
    pub id: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process and its log.
    pub serve: LoggedServe,
}

impl Node {
    /// Starts node `id` of the cluster on `nats` with `env` on top of the test timings.
    pub(crate) async fn start(nats: &Nats, id: &str, env: &[(&str, &str)]) -> Node {
        let url = nats.url();
        let mut all = vec![
            ("TONEGATE_CLUSTER_NATS_URL", url.as_str()),
            ("TONEGATE_CLUSTER_NODE_ID", id),
            ("TONEGATE_CLUSTER_HEARTBEAT_MS", "300"),
            ("TONEGATE_CLUSTER_NODE_TTL_MS", "1500"),
            // Other tests and builds load the box: not this node's to refuse calls for.
            ("TONEGATE_ADMISSION_MAX_LAG_MS", "0"),
            ("TONEGATE_ADMISSION_MAX_CPU_PERCENT", "0"),
            // JetStream reserves a stream's whole size on disk: the default 1 GiB would
            // make the tests depend on the free space of the box that runs them.
            ("TONEGATE_CLUSTER_EVENT_MAX_BYTES", "16777216"),
        ];
        all.extend_from_slice(env);
        let serve = LoggedServe::start(&all, |_| {});
        let addr = serve.addr().await;
        serve.line_with("joined the cluster").await;
        Node {
            id: id.to_owned(),
            addr,
            serve,
        }
    }

    /// Sends SIGTERM (a graceful stop) without waiting.
    pub(crate) fn terminate(&self) {
        let pid = self.serve.pid().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }
}

/// Starts nodes `ids` on `nats`, each with `env`.
pub(crate) async fn start_nodes(nats: &Nats, ids: &[&str], env: &[(&str, &str)]) -> Vec<Node> {
    let mut nodes = Vec::new();
    for id in ids {
        nodes.push(Node::start(nats, id, env).await);
    }
    nodes
}

/// The close code and the `error` events of a call the server closes.
pub(crate) async fn closed(call: &mut LiveCall) -> (u16, Vec<Value>) {
    let mut errors = Vec::new();
    let deadline = tokio::time::sleep(LIMIT);
    tokio::pin!(deadline);
    loop {
        let message = tokio::select! {
            m = call.received.recv() => m,
            _ = &mut deadline => panic!("the socket was not closed; errors so far {errors:?}"),
        };
        match message {
            Some(Message::Close(frame)) => return (frame.map_or(1005, |f| f.code.into()), errors),
            Some(Message::Text(text)) => {
                let event: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if event["type"] == "error" {
                    errors.push(event);
                }
            }
            Some(_) => {}
            None => return (1006, errors),
        }
    }
}
