//! What a user feels: a client pinging the VIP every few milliseconds, and the
//! largest gap between replies.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::netns::{LabError, Namespace};

/// A `ping` process in the client namespace, with reply times collected.
pub struct Pinger {
    child: Child,
    /// (timestamp, icmp_seq) of every reply since the last reset.
    replies: Arc<Mutex<Vec<(f64, u64)>>>,
    reader: Option<JoinHandle<()>>,
}

impl Pinger {
    /// Pings `target` from `client` every `every` (root may go down to 1 ms).
    pub fn start(client: &Namespace, target: &str, every: Duration) -> Result<Pinger, LabError> {
        let interval = format!("{:.3}", every.as_secs_f64());
        let mut child = client
            .command("ping")
            .args(["-D", "-n", "-i", &interval, "-W", "1", target])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| LabError::Timeout("ping output".into()))?;
        let replies = Arc::new(Mutex::new(Vec::new()));
        let sink = replies.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // "[1700000000.123456] 64 bytes from 192.0.2.50: icmp_seq=1 ttl=64 time=0.05 ms"
                if !line.contains("bytes from") {
                    continue;
                }
                let stamp = line.strip_prefix('[').and_then(|l| l.split(']').next());
                let seq = line
                    .split("icmp_seq=")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|n| n.parse::<u64>().ok());
                if let (Some(t), Some(seq)) = (stamp.and_then(|s| s.parse::<f64>().ok()), seq) {
                    if let Ok(mut v) = sink.lock() {
                        v.push((t, seq));
                    }
                }
            }
        });
        Ok(Pinger {
            child,
            replies,
            reader: Some(reader),
        })
    }

    /// Number of replies so far.
    pub fn replies(&self) -> usize {
        self.replies.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Forgets the replies so far (start a new measurement).
    pub fn reset(&self) {
        if let Ok(mut v) = self.replies.lock() {
            v.clear();
        }
    }

    /// Waits until `count` more replies arrived, or `timeout`.
    pub fn wait_replies(&self, count: usize, timeout: Duration) -> bool {
        let start = self.replies();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.replies() >= start + count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// The largest gap between consecutive replies since the last reset.
    pub fn largest_gap(&self) -> Duration {
        let v = self.replies.lock().map(|v| v.clone()).unwrap_or_default();
        let gap = v.windows(2).map(|w| w[1].0 - w[0].0).fold(0.0, f64::max);
        Duration::from_secs_f64(gap.max(0.0))
    }

    /// Echo requests without a reply between the first and the last reply
    /// since the last reset (by sequence number, so a late reply still counts).
    pub fn lost(&self) -> u64 {
        let v = self.replies.lock().map(|v| v.clone()).unwrap_or_default();
        let (Some(first), Some(last)) = (v.iter().map(|r| r.1).min(), v.iter().map(|r| r.1).max())
        else {
            return 0;
        };
        let mut seen: Vec<u64> = v.iter().map(|r| r.1).collect();
        seen.sort_unstable();
        seen.dedup();
        (last - first + 1).saturating_sub(seen.len() as u64)
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
