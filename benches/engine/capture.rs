//! Time spent in the server, at the wire: a loopback capture (tshark) of a line.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A loopback capture (dumpcap) of one server port during the latency or RPC line: what the server
/// adds at the wire, beside the clients' view, which a client process on the same two
/// cores skews with its own scheduling.
pub(crate) struct WireCapture {
    pub(crate) child: Child,
    pub(crate) file: PathBuf,
    pub(crate) port: u16,
}

impl WireCapture {
    /// Captures `secs` seconds of the port's traffic, starting a second from now; `None`
    /// when dumpcap is missing or may not capture.
    pub(crate) fn start(port: u16, secs: u64) -> Option<WireCapture> {
        let file = std::env::temp_dir().join(format!("bench-capture-{port}.pcap"));
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "sleep 1; exec dumpcap -q -i lo -f 'tcp port {port}' -a duration:{} -w {}",
                secs.max(1),
                file.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(WireCapture { child, file, port })
    }

    /// For every ping (the client's last segment before the server's answer on that
    /// connection), the µs until the server's first segment back.
    pub(crate) fn turnarounds(mut self) -> Option<Vec<f64>> {
        let ok = self.child.wait().ok()?.success();
        let out = ok
            .then(|| {
                Command::new("tshark")
                    .arg("-r")
                    .arg(&self.file)
                    .args(["-Y", "tcp.len > 0", "-T", "fields"])
                    .args([
                        "-e",
                        "frame.time_epoch",
                        "-e",
                        "tcp.srcport",
                        "-e",
                        "tcp.dstport",
                    ])
                    .stderr(Stdio::null())
                    .output()
                    .ok()
            })
            .flatten();
        let _ = std::fs::remove_file(&self.file);
        let text = String::from_utf8(out?.stdout).ok()?;
        let mut ping_at: std::collections::HashMap<u16, f64> = Default::default();
        let mut us = Vec::new();
        for line in text.lines() {
            let mut f = line.split('\t');
            let (Some(t), Some(src), Some(dst)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let (Ok(t), Ok(src), Ok(dst)) =
                (t.parse::<f64>(), src.parse::<u16>(), dst.parse::<u16>())
            else {
                continue;
            };
            if dst == self.port {
                ping_at.insert(src, t);
            } else if src == self.port
                && let Some(at) = ping_at.remove(&dst)
            {
                us.push((t - at) * 1e6);
            }
        }
        Some(us)
    }

    /// The turnarounds' mean and p99 in ms, and how many there were.
    pub(crate) fn summary(self) -> Option<(f64, f64, usize)> {
        let mut us = self.turnarounds()?;
        if us.is_empty() {
            return None;
        }
        us.sort_by(f64::total_cmp);
        let mean = us.iter().sum::<f64>() / us.len() as f64 / 1000.0;
        let p99 = us[(us.len() * 99 / 100).min(us.len() - 1)] / 1000.0;
        Some((mean, p99, us.len()))
    }
}
