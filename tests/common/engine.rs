//! Running the real Godot 4 engine from tests: the binary `tools/godot.sh` finds (it
//! fetches Debian's Godot 4 on first use), the addon built once per test binary, and
//! engine processes run one at a time (they start clients of their own and are timed).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn demo_project() -> PathBuf {
    root().join("godot-project")
}

/// The Godot 4 binary: `GODOT`, else what `tools/godot.sh` prints (which fetches Debian's
/// Godot 4 when there is none). Panics with the script's advice when there is none.
pub fn godot() -> PathBuf {
    static GODOT: OnceLock<PathBuf> = OnceLock::new();
    GODOT.get_or_init(|| engine_from("tools/godot.sh")).clone()
}

/// The engine path a finder script (`tools/godot.sh`, `tools/godot-arm64.sh`) prints; it
/// says on stderr what it fetched, or why there is none.
fn engine_from(script: &str) -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "no engine for the engine tests ({script} said why above)"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Builds the addon (release) and copies it into the demo project, once per test binary,
/// so that the engine always runs the code under test.
pub fn addon() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new("bash")
            .arg(root().join("tools/build-addon.sh"))
            .status()
            .expect("run tools/build-addon.sh");
        assert!(status.success(), "tools/build-addon.sh failed");
    });
}

/// Engine tests run one at a time: each starts an engine and clients of its own.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Python interpreter with `websockets` (WS_PYTHON, else the project's .venv).
pub fn python() -> PathBuf {
    std::env::var_os("WS_PYTHON").map_or_else(|| root().join(".venv/bin/python"), PathBuf::from)
}

/// Makes `project` loadable without an editor import (extension list, class cache).
pub fn prepare(project: &Path) {
    let status = Command::new("bash")
        .arg(root().join("tools/prepare-project.sh"))
        .arg(project)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Debian's arm64 Godot 4 run under qemu-user (what `tools/godot-arm64.sh` prints; it
/// fetches the engine on first use), and the command line that starts another process of
/// it (`GWS_ENGINE_LAUNCHER` for scenes that start a second engine).
pub fn godot_arm64() -> (PathBuf, String) {
    static GODOT: OnceLock<(PathBuf, String)> = OnceLock::new();
    GODOT
        .get_or_init(|| {
            let cmd = engine_from("tools/godot-arm64.sh");
            let root = Command::new(&cmd).arg("--root").output().unwrap();
            let root = String::from_utf8(root.stdout).unwrap().trim().to_owned();
            (cmd, format!("qemu-aarch64-static -L {root}"))
        })
        .clone()
}

/// An engine command for `project` with the environment every engine test uses.
pub fn command(project: &Path) -> Command {
    command_of(&godot(), project)
}

/// [`command`] with another engine binary (the arm64 one).
pub fn command_of(engine: &Path, project: &Path) -> Command {
    let mut cmd = Command::new(engine);
    cmd.args(["--headless", "--path"])
        .arg(project)
        .env("WS_PYTHON", python())
        .env("GDRUST_SUPPRESSED_WARNINGS", "RegisterDocsInExport");
    cmd
}

/// What an engine process printed and how it ended.
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to its end (killed after `limit`), printing what it wrote.
pub fn run_to_end(mut cmd: Command, what: &str, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start Godot");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    println!("--- {what}: {status}\n{stdout}\n--- stderr\n{stderr}");
    Output {
        success: status.success(),
        stdout,
        stderr,
    }
}

fn drain(mut r: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = r.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs a test script (`extends "res://tests/harness.gd"`) headless; asserts exit code 0
/// and its PASS line.
pub fn run_script(project: &Path, script: &str) -> Output {
    addon();
    run_script_with(command(project), project, script)
}

/// [`run_script`] with an engine command of the caller's ([`command_of`]); the addon must
/// hold that engine's library already.
pub fn run_script_with(mut cmd: Command, project: &Path, script: &str) -> Output {
    prepare(project);
    cmd.args(["--script", script]);
    let out = run_to_end(cmd, script, Duration::from_secs(180));
    assert!(out.success, "{script} failed");
    assert!(out.stdout.contains("PASS"), "{script} printed no PASS line");
    out
}

/// A process that is killed when dropped, whose stdout lines can be awaited.
pub struct Running {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    /// Starts `cmd`; its stdout lines are collected (stderr goes to the test's output).
    pub fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start process");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                println!("| {}", line.chars().take(200).collect::<String>());
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `text` (printed already, or from now on).
    pub fn wait_line(&mut self, text: &str, limit: Duration) -> String {
        match self.seen.iter().find(|l| l.contains(text)) {
            Some(l) => l.clone(),
            None => self.wait_new_line(text, limit),
        }
    }

    /// Waits for a line containing `text` that has not been printed yet.
    pub fn wait_new_line(&mut self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no new line containing {text:?} within {limit:?}; lines so far: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Every line printed so far (those not awaited yet included).
    pub fn lines_so_far(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Waits for the process to end by itself; its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Python client of `tests/clients/` to its end, prints what it wrote, and asserts
/// that it succeeded.
pub fn python_client(script: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(python())
        .arg(root().join("tests/clients").join(script))
        .args(args)
        .output()
        .unwrap();
    println!(
        "{script}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script} failed");
    out
}

/// The demo chat through a running chat server (the editor build, or an exported one): two
/// Python users join, talk, list who is there, echo binary and leave cleanly.
pub fn chat_through_demo(server: &mut Running, port: u16) {
    server.wait_line("Chat server listening on", Duration::from_secs(300));
    python_client("demo_chat.py", &[&format!("ws://127.0.0.1:{port}/")]);
    server.wait_line("disconnected (clean: true)", Duration::from_secs(30));
}

/// Makes `dir` a new, empty Godot project with the fresh-project check script as
/// `res://check.gd`; the caller puts the addon into `dir/addons/`.
pub fn fresh_project(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("addons")).unwrap();
    std::fs::write(
        dir.join("project.godot"),
        "config_version=5\n\n[application]\n\nconfig/name=\"Fresh\"\n",
    )
    .unwrap();
    std::fs::copy(
        demo_project().join("tests/fresh_project_check.gd"),
        dir.join("check.gd"),
    )
    .unwrap();
}

/// A TCP port that is free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
