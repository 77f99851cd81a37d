//! The host's CPU, memory, load and network, from Linux's /proc.

use naap_events::samples::HostFields;

/// Something that can read this host's figures.
pub trait HostSource: Send {
    fn read(&mut self) -> HostFields;
}

/// /proc/stat, /proc/meminfo, /proc/loadavg and /proc/net/dev. CPU
/// utilization is the busy share since the previous read (none on the
/// first). Anything unreadable (another OS, a sandbox) is left empty.
#[derive(Debug, Default)]
pub struct ProcHost {
    last_cpu: Option<(u64, u64)>,
}

fn cpu_times(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total, idle))
}

fn meminfo_bytes(meminfo: &str, key: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Sum of received and transmitted bytes over every interface but `lo`.
fn net_bytes(dev: &str) -> Option<(u64, u64)> {
    let mut rx = 0;
    let mut tx = 0;
    for line in dev.lines().skip(2) {
        let (name, rest) = line.split_once(':')?;
        if name.trim() == "lo" {
            continue;
        }
        let v: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        rx += v.first().copied().unwrap_or(0);
        tx += v.get(8).copied().unwrap_or(0);
    }
    Some((rx, tx))
}

impl HostSource for ProcHost {
    fn read(&mut self) -> HostFields {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let mut h = HostFields::default();
        if let Some(stat) = read("/proc/stat") {
            let now = cpu_times(&stat);
            if let (Some((t0, i0)), Some((t1, i1))) = (self.last_cpu, now)
                && t1 > t0
            {
                h.cpu_utilization = Some(1.0 - (i1.saturating_sub(i0)) as f64 / (t1 - t0) as f64);
            }
            self.last_cpu = now;
            h.cpu_logical_count = Some(
                stat.lines()
                    .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
                    .count() as u32,
            );
        }
        if let Some(m) = read("/proc/meminfo") {
            h.memory_limit_bytes = meminfo_bytes(&m, "MemTotal:");
            h.memory_usage_bytes = h
                .memory_limit_bytes
                .zip(meminfo_bytes(&m, "MemAvailable:"))
                .map(|(t, a)| t.saturating_sub(a));
        }
        if let Some(l) = read("/proc/loadavg") {
            let v: Vec<f64> = l.split_whitespace().take(3).filter_map(|x| x.parse().ok()).collect();
            (h.load_1m, h.load_5m, h.load_15m) = (v.first().copied(), v.get(1).copied(), v.get(2).copied());
        }
        if let Some((rx, tx)) = read("/proc/net/dev").as_deref().and_then(net_bytes) {
            h.network_receive_bytes = Some(rx);
            h.network_transmit_bytes = Some(tx);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_formats() {
        assert_eq!(
            cpu_times("cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 1 1 1 1\n"),
            Some((100, 80))
        );
        assert_eq!(meminfo_bytes("MemTotal:       1024 kB\n", "MemTotal:"), Some(1 << 20));
        let dev = "Inter-|   Receive\n face |bytes\n    lo: 5 0 0 0 0 0 0 0 5 0 0 0 0 0 0 0\n  eth0: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n";
        assert_eq!(net_bytes(dev), Some((100, 200)));
    }

    #[test]
    fn this_linux_host_reads() {
        let mut h = ProcHost::default();
        let first = h.read();
        assert!(first.memory_limit_bytes.is_some_and(|m| m > 0));
        assert!(first.cpu_utilization.is_none(), "needs two reads");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let second = h.read();
        assert!(second.cpu_utilization.is_some_and(|u| (0.0..=1.0).contains(&u)));
    }
}
