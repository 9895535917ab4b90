//! The core's echo example as a server process of its own, for the tests that measure
//! what a server holds under a flood.

use std::io::Write;

/// The core's echo example with a counting allocator (`examples/counted_echo.rs`) as a
/// server process of its own, so that its memory is the server's alone, counted by the
/// process itself: no debugger, no call injected into it.
pub struct EchoProcess {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    pub port: u16,
}

impl EchoProcess {
    pub fn start(args: &[&str]) -> EchoProcess {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", "counted_echo"])
            .args(profile_dir.ends_with("release").then_some("--release"))
            .status()
            .unwrap();
        assert!(status.success(), "cannot build the counted_echo example");
        let port = super::engine::free_port();
        let mut child = std::process::Command::new(profile_dir.join("examples/counted_echo"))
            .arg(port.to_string())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert!(line.starts_with("listening"), "{line}");
        EchoProcess {
            child,
            stdin,
            stdout,
            port,
        }
    }

    pub fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    }

    /// The server's live heap in KB, as its own allocator counts it: what it really
    /// holds, without the free pages the C library keeps for reuse.
    pub fn heap_kb(&mut self) -> u64 {
        writeln!(self.stdin, "heap").expect("the echo server's stdin");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.stdout, &mut line).unwrap();
        let bytes: u64 = line
            .strip_prefix("heap ")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("the echo server answered {line:?} to \"heap\""));
        bytes / 1024
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
