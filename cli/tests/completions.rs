//! The committed shell completions match the CLI; regenerate with
//! `scripts/completions` when a command or flag changes.

#[test]
fn committed_completions_match_the_cli() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shell-completions");
    for (shell, file) in [
        ("bash", "cyxcloud.bash"),
        ("zsh", "_cyxcloud"),
        ("fish", "cyxcloud.fish"),
        ("elvish", "cyxcloud.elv"),
        ("powershell", "_cyxcloud.ps1"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cyxcloud"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let committed = std::fs::read(dir.join(file)).unwrap_or_default();
        let fresh = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
        if committed != out.stdout {
            std::fs::write(&fresh, &out.stdout).unwrap();
        }
        assert!(
            committed == out.stdout,
            "shell-completions/{file} is out of date (generated: {}): run scripts/completions",
            fresh.display()
        );
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cyxcloud"))
        .args(["mb", "b", "--profile", "nonsense"])
        .env(
            "CYXCLOUD_HOME",
            std::env::temp_dir().join("cyxcloud-cli-usage-test"),
        )
        .env("CYXCLOUD_API_KEY", "cyxk_live_x")
        .env("CYXCLOUD_GATEWAY", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown profile") && err.lines().count() == 1,
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cyxcloud"))
        .args(["frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unreachable_gateway_is_a_network_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cyxcloud"))
        .args(["ls"])
        .env(
            "CYXCLOUD_HOME",
            std::env::temp_dir().join("cyxcloud-cli-net-test"),
        )
        .env("CYXCLOUD_API_KEY", "cyxk_live_x")
        .env("CYXCLOUD_GATEWAY", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
