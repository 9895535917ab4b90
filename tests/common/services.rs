//! Real services from Debian's packages for the tests that need them (nginx, HAProxy,
//! Redis, Prometheus): installed when missing, started on 127.0.0.1 with a configuration
//! and ports of the test's own, stopped when the test ends.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The path of `binary`, installing Debian's `package` first when it is missing.
pub fn debian_binary(binary: &str, package: &str) -> PathBuf {
    static APT: Mutex<()> = Mutex::new(());
    let find = || {
        ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]
            .iter()
            .map(|d| Path::new(d).join(binary))
            .find(|p| p.exists())
    };
    if let Some(p) = find() {
        return p;
    }
    let _apt = APT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = find() {
        return p;
    }
    let run = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get (the tests install Debian packages they need)")
    };
    if !run(&["install", "-y", "-qq", "--no-install-recommends", package]).success() {
        assert!(run(&["update", "-qq"]).success(), "apt-get update failed");
        assert!(
            run(&["install", "-y", "-qq", "--no-install-recommends", package]).success(),
            "cannot install Debian's {package}"
        );
    }
    find().unwrap_or_else(|| panic!("{package} installed no {binary}"))
}

/// A new empty directory for a service's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gws-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fills the `@NAME@` placeholders of a configuration template.
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut text = template.to_string();
    for (name, value) in values {
        text = text.replace(&format!("@{name}@"), value);
    }
    let left = text
        .split('@')
        .skip(1)
        .step_by(2)
        .find(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
    assert!(
        left.is_none(),
        "placeholder @{}@ left unfilled",
        left.unwrap_or_default()
    );
    text
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
