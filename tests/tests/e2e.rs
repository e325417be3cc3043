//! The whole product as users run it: `cyxcloud dev` starts a gateway and 14 storage nodes as
//! separate processes; the `cyxcloud` CLI uploads and downloads through them; an S3 client
//! sees the same objects; node processes are killed to show what survives.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const CHUNK: usize = 1 << 20;

fn bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("cyxcloud");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// Deterministic pseudo-random (incompressible) bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

struct Dev {
    child: Child,
    dir: PathBuf,
    home: PathBuf,
    creds: Value,
    network: Value,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Children that outlived a killed parent.
        if let Some(ps) = self.network["processes"].as_array() {
            for p in ps {
                if let Some(pid) = p["pid"].as_u64() {
                    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                }
            }
        }
    }
}

impl Dev {
    fn start(root: &Path) -> Dev {
        let dir = root.join("net");
        let home = root.join("home");
        let child = Command::new(bin())
            .args(["dev", "--port", "0", "--grpc-port", "0", "--chunk-size"])
            .arg(CHUNK.to_string())
            .arg("--data-dir")
            .arg(&dir)
            .env("CYXCLOUD_HOME", &home)
            .env("CYXCLOUD_SECRET_STORE", "file")
            .env("RUST_LOG", "warn")
            .env_remove("CYXCLOUD_PASSPHRASE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cyxcloud dev");
        let mut dev = Dev {
            child,
            dir: dir.clone(),
            home,
            creds: Value::Null,
            network: Value::Null,
        };
        let out = dev.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("cyxcloud dev ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(120))
            .expect("cyxcloud dev did not become ready");
        dev.creds =
            serde_json::from_slice(&std::fs::read(dir.join("dev-credentials.json")).unwrap())
                .unwrap();
        dev.network =
            serde_json::from_slice(&std::fs::read(dir.join("dev-network.json")).unwrap()).unwrap();
        dev
    }

    fn cli(&self) -> Command {
        let mut c = Command::new(bin());
        c.env("CYXCLOUD_HOME", &self.home)
            .env("CYXCLOUD_SECRET_STORE", "file")
            .env(
                "CYXCLOUD_PASSPHRASE",
                self.creds["passphrase"].as_str().unwrap(),
            )
            .env_remove("CYXCLOUD_API_KEY")
            .env_remove("CYXCLOUD_GATEWAY")
            .env_remove("CYXCLOUD_KEY")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cli().args(args).output().expect("run cyxcloud")
    }

    /// Run a command to completion; its output and its peak resident memory in bytes.
    /// The kernel's high-water mark (VmHWM) belongs to the process's address space, which
    /// starts anew at exec, so it is read from /proc while the command runs; the last value
    /// read before it exits is its peak, up to the few milliseconds between two reads.
    /// (`wait4`'s ru_maxrss would not do: Linux carries it across exec from the parent.)
    fn run_measured(&self, args: &[&str]) -> (Output, u64) {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let child = self
            .cli()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cyxcloud");
        let (done, peak) = (AtomicBool::new(false), AtomicU64::new(0));
        let status = format!("/proc/{}/status", child.id());
        let o = std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
                        let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
                        line.split_whitespace().nth(1)?.parse::<u64>().ok()
                    });
                    if let Some(kib) = hwm {
                        peak.fetch_max(kib * 1024, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
            let o = child.wait_with_output().expect("wait for cyxcloud");
            done.store(true, Ordering::Release);
            o
        });
        (o, peak.into_inner())
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "cyxcloud {args:?} failed ({}): {}\n--- end of the gateway's log ---\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr),
            self.gateway_log_tail()
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// The last lines of the gateway's log, for failure messages.
    fn gateway_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("logs/gateway.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn node_pids(&self) -> Vec<u32> {
        self.network["processes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["role"] == "node")
            .map(|p| p["pid"].as_u64().unwrap() as u32)
            .collect()
    }
}

fn kill9(pid: u32) {
    signal("-9", pid)
}

fn signal(sig: &str, pid: u32) {
    assert!(
        Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success()
    );
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)
        } else {
            out.push(p)
        }
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn local_network_end_to_end() {
    let root = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path());
    assert_eq!(dev.node_pids().len(), 14);
    for k in [
        "gateway_url",
        "s3_endpoint",
        "access_key_id",
        "secret_access_key",
        "api_key",
    ] {
        assert!(
            dev.creds[k].as_str().is_some_and(|v| !v.is_empty()),
            "dev-credentials.json lacks {k}"
        );
    }
    dev.ok(&["mb", "e2e"]);
    let files = root.path().join("files");
    std::fs::create_dir_all(&files).unwrap();

    // Sizes around the chunk boundaries, and a large file.
    let sizes = [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 200 << 20];
    let mut hashes = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        let p = files.join(format!("f{i}.bin"));
        let d = data(*n, i as u64 + 1);
        hashes.push(blake3::hash(&d));
        std::fs::write(&p, d).unwrap();
        let out = dev.ok(&["upload", p.to_str().unwrap(), "-b", "e2e"]);
        assert_eq!(out.trim(), format!("Uploaded: cyx://e2e/f{i}.bin"));
    }
    let check_all = |dev: &Dev, tag: &str| {
        for (i, h) in hashes.iter().enumerate() {
            let out = root.path().join(format!("out-{tag}-{i}"));
            dev.ok(&[
                "download",
                &format!("cyx://e2e/f{i}.bin"),
                "-o",
                out.to_str().unwrap(),
            ]);
            let got = std::fs::read(&out).unwrap();
            assert_eq!(got.len(), sizes[i], "size of f{i} ({tag})");
            assert_eq!(blake3::hash(&got), *h, "bytes of f{i} ({tag})");
            std::fs::remove_file(&out).unwrap();
        }
    };
    check_all(&dev, "all-up");

    // Memory is bounded by the chunks in flight, not by the file: moving 200 MiB costs
    // about what moving one byte does. Every command's floor includes the 64 MiB that
    // Argon2id takes to derive the key from the passphrase; the upload's in-flight slots (at
    // most 16 encoded 1 MiB chunks here, each also copied once into its shards' gRPC
    // messages) fit in the margin, and a command that held the file would need 200 MiB more.
    let peak = |args: &[&str]| {
        let (o, rss) = dev.run_measured(args);
        assert!(
            o.status.success(),
            "cyxcloud {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        rss
    };
    let f = |i: usize| files.join(format!("f{i}.bin"));
    let out = root.path().join("rss.out");
    let out = out.to_str().unwrap();
    dev.ok(&["mb", "rss"]);
    let up_small = peak(&["upload", f(1).to_str().unwrap(), "-b", "rss", "-k", "small"]);
    let up_big = peak(&["upload", f(5).to_str().unwrap(), "-b", "rss", "-k", "big"]);
    let down_small = peak(&["download", "cyx://rss/small", "-o", out]);
    let down_big = peak(&["download", "cyx://rss/big", "-o", out]);
    std::fs::remove_file(out).unwrap();
    eprintln!(
        "peak RSS: upload {} / {} MiB, download {} / {} MiB (1 B / 200 MiB)",
        up_small >> 20,
        up_big >> 20,
        down_small >> 20,
        down_big >> 20
    );
    for (what, small, big) in [
        ("upload", up_small, up_big),
        ("download", down_small, down_big),
    ] {
        assert!(
            big < small + (64 << 20),
            "a 200 MiB {what} peaked at {} MiB against {} MiB for 1 byte",
            big >> 20,
            small >> 20
        );
    }

    // Two nodes hang (stopped, their sockets still open): a download asks other nodes once
    // the first ones are late, instead of waiting out a hung node's timeout (15 s or more
    // per shard), and still returns the right bytes.
    let hung = files.join("hung.bin");
    let hung_data = data(12 * CHUNK, 12);
    std::fs::write(&hung, &hung_data).unwrap();
    dev.ok(&["mb", "hung"]);
    dev.ok(&["upload", hung.to_str().unwrap(), "-b", "hung"]);
    let pids = dev.node_pids();
    for p in &pids[12..] {
        signal("-STOP", *p);
    }
    let out = root.path().join("hung.out");
    let t = Instant::now();
    let o = dev.run(&[
        "download",
        "cyx://hung/hung.bin",
        "-o",
        out.to_str().unwrap(),
    ]);
    let took = t.elapsed();
    for p in &pids[12..] {
        signal("-CONT", *p);
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read(&out).unwrap() == hung_data,
        "bytes of hung.bin"
    );
    assert!(
        took < Duration::from_secs(12),
        "the download waited for the hung nodes: {took:?}"
    );
    std::fs::remove_file(&out).unwrap();

    // Byte ranges: across a chunk boundary, to a file and to stdout, and open-ended.
    let expect = &data(CHUNK + 10, 6)[CHUNK - 6..CHUNK + 10];
    let out = root.path().join("range.out");
    let r = format!("{}-{}", CHUNK - 6, CHUNK + 9);
    dev.ok(&[
        "download",
        "cyx://e2e/f5.bin",
        "--range",
        &r,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), expect);
    let o = dev.run(&["download", "cyx://e2e/f5.bin", "--range", &r, "-o", "-"]);
    assert!(o.status.success());
    assert_eq!(o.stdout, expect);
    let o = dev.run(&[
        "download",
        "cyx://e2e/f4.bin",
        "--range",
        &format!("{CHUNK}-"),
        "-o",
        "-",
    ]);
    assert_eq!(o.stdout, &data(CHUNK + 1, 5)[CHUNK..]);
    assert_eq!(
        dev.run(&["download", "cyx://e2e/f5.bin", "--range", "9-3", "-o", "-"])
            .status
            .code(),
        Some(2)
    );

    // stdin upload, cat to stdout, stat and listings in JSON.
    let mut c = dev.cli();
    let mut child = c
        .args(["upload", "-", "-b", "e2e", "-k", "dir/notes.txt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello from stdin\n")
            .unwrap();
    }
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(
        dev.ok(&["cat", "cyx://e2e/dir/notes.txt"]),
        "hello from stdin\n"
    );
    let ls: Value = serde_json::from_str(&dev.ok(&["ls", "cyx://e2e/", "--json"])).unwrap();
    assert_eq!(ls["prefixes"], serde_json::json!(["dir/"]));
    assert_eq!(ls["objects"].as_array().unwrap().len(), sizes.len());
    let st: Value = serde_json::from_str(&dev.ok(&["stat", "cyx://e2e/f5.bin", "--json"])).unwrap();
    assert_eq!(st["size"], 200 << 20);
    assert_eq!(st["client_encrypted"], true);
    let status: Value = serde_json::from_str(&dev.ok(&["status", "-b", "e2e", "--json"])).unwrap();
    assert_eq!(status["object_count"], sizes.len() + 1);
    assert!(status["used_percent"].as_f64().unwrap() > 0.0);

    // Zero knowledge: a marker in a file never appears on any disk of the network.
    let marker = "CYX-E2E-MARKER-5d1f0e77";
    let mut text = String::new();
    while text.len() < 3 * CHUNK {
        text.push_str(&format!("{marker} line {}\n", text.len()));
    }
    let mp = files.join("marker.txt");
    std::fs::write(&mp, &text).unwrap();
    dev.ok(&["upload", mp.to_str().unwrap(), "-b", "e2e"]);
    let mut all = Vec::new();
    walk(&dev.dir, &mut all);
    for f in &all {
        let b = std::fs::read(f).unwrap_or_default();
        assert!(
            !b.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{} holds the plaintext",
            f.display()
        );
    }

    // A wrong passphrase: a clear error and exit code 7, and no output file.
    let out = root.path().join("wrong-pass");
    let o = dev
        .cli()
        .env("CYXCLOUD_PASSPHRASE", "not the passphrase")
        .env("CYXCLOUD_API_KEY", dev.creds["api_key"].as_str().unwrap())
        .args(["download", "cyx://e2e/f1.bin", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("passphrase"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());

    // Standard S3 clients see the same buckets and objects, and the CLI reads theirs.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(format!("{}/", dev.creds["s3_endpoint"].as_str().unwrap()))
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                dev.creds["access_key_id"].as_str().unwrap(),
                dev.creds["secret_access_key"].as_str().unwrap(),
                None,
                None,
                "e2e",
            ))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        let buckets = s3.list_buckets().send().await.unwrap();
        assert!(buckets.buckets().iter().any(|b| b.name() == Some("e2e")));
        let l = s3.list_objects_v2().bucket("e2e").send().await.unwrap();
        let mut keys: Vec<&str> = l.contents().iter().filter_map(|o| o.key()).collect();
        keys.sort();
        assert_eq!(keys.len(), sizes.len() + 2, "{keys:?}");
        assert!(keys.contains(&"f5.bin") && keys.contains(&"dir/notes.txt"));
        let body = data(3 * CHUNK / 2, 99);
        s3.put_object()
            .bucket("e2e")
            .key("from-s3.bin")
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        let out = root.path().join("from-s3.bin");
        dev.ok(&[
            "download",
            "cyx://e2e/from-s3.bin",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(std::fs::read(&out).unwrap(), body);
    });

    // An upload killed half-way resumes and sends only what is missing.
    let big = files.join("resume.bin");
    std::fs::write(&big, data(48 << 20, 7)).unwrap();
    let before = dir_bytes(&dev.dir.join("nodes"));
    let mut up = dev
        .cli()
        .args([
            "upload",
            big.to_str().unwrap(),
            "-b",
            "e2e",
            "--max-connections",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while dir_bytes(&dev.dir.join("nodes")) < before + (16 << 20)
        && t.elapsed() < Duration::from_secs(120)
    {
        assert!(
            up.try_wait().unwrap().is_none(),
            "the upload finished before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    let o: Value =
        serde_json::from_str(&dev.ok(&["upload", big.to_str().unwrap(), "-b", "e2e", "--json"]))
            .unwrap();
    let resumed = o["resumed_bytes"].as_u64().unwrap();
    assert!(resumed > 0, "nothing was resumed: {o}");
    assert_eq!(resumed + o["sent_bytes"].as_u64().unwrap(), 48 << 20);
    let out = root.path().join("resume.out");
    dev.ok(&[
        "download",
        "cyx://e2e/resume.bin",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        blake3::hash(&std::fs::read(&out).unwrap()),
        blake3::hash(&std::fs::read(&big).unwrap())
    );
    std::fs::remove_file(&out).unwrap();

    // Two nodes die just before an upload: their shards fail, the chunks still reach the
    // write quorum (11 of 14) on the rest, and the object reads back.
    let pids = dev.node_pids();
    for p in &pids[..2] {
        kill9(*p);
    }
    let late = files.join("late.bin");
    let late_data = data(3 * CHUNK + 5, 11);
    std::fs::write(&late, &late_data).unwrap();
    dev.ok(&["upload", late.to_str().unwrap(), "-b", "e2e"]);
    let out = root.path().join("late.out");
    dev.ok(&[
        "download",
        "cyx://e2e/late.bin",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), late_data);

    // Kill 6 of the 14 nodes: every download still returns the right bytes.
    for p in &pids[2..6] {
        kill9(*p);
    }
    check_all(&dev, "six-down");
    // A 7th: a clear error, a non-zero exit, and no file under the requested name.
    kill9(pids[6]);
    let out = root.path().join("seven-down");
    let o = dev.run(&["download", "cyx://e2e/f3.bin", "-o", out.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("NETWORK_QUORUM_FAILED"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(!out.exists(), "a partial download must not look complete");

    // Ctrl-C stops every process cleanly; running it again reuses the data and the account.
    let api_key = dev.creds["api_key"].clone();
    let pids = dev.node_pids();
    let mut dev = dev;
    assert!(
        Command::new("kill")
            .args(["-INT", &dev.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    let status = loop {
        if let Some(s) = dev.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "cyxcloud dev did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    for p in pids {
        assert!(
            !Path::new(&format!("/proc/{p}")).exists()
                || std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .unwrap_or_default()
                    .contains(") Z"),
            "node {p} still running"
        );
    }
    drop(dev);
    let dev = Dev::start(root.path());
    assert_eq!(
        dev.creds["api_key"], api_key,
        "the development key is reused"
    );
    let o = dev.run(&["cat", "cyx://e2e/f1.bin"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout, data(1, 2));
}
