//! CPU time a database server on this machine spends, from /proc: what a row costs the server
//! itself, for the rows per core `pipectl capacity` plans with. Nothing when the server runs on
//! another machine.

use nix::unistd::{SysconfVar, sysconf};

/// A server's CPU time at the start of a measurement.
pub struct ServerCpu {
    /// The server's process name as /proc shows it (`comm`, at most 15 bytes).
    process: &'static str,
    start: f64,
}

/// PostgreSQL's processes: the postmaster, its backends and its background workers.
pub const POSTGRES: &str = "postgres";

/// ClickHouse's server process (`clickhouse-server`, as /proc shortens it).
pub const CLICKHOUSE: &str = "clickhouse-serv";

impl ServerCpu {
    /// Starts measuring the processes named `process`; none when there are none here.
    pub fn start(process: &'static str) -> Option<Self> {
        Some(ServerCpu {
            process,
            start: used(process)?,
        })
    }

    /// CPU seconds the server spent since the start.
    pub fn seconds(&self) -> Option<f64> {
        Some(used(self.process)? - self.start)
    }
}

/// CPU seconds used by every process named `process` and by the children they reaped (a
/// backend that ended during the measurement counts in its postmaster's).
fn used(process: &str) -> Option<f64> {
    let ticks_per_second = sysconf(SysconfVar::CLK_TCK).ok().flatten()? as f64;
    let mut ticks = 0u64;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if head.split_once('(').map(|(_, comm)| comm) != Some(process) {
            continue;
        }
        found = true;
        // After the name: state, ppid, … utime (14th field of the line), stime, cutime, cstime.
        ticks += rest
            .split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|field| field.parse::<u64>().ok())
            .sum::<u64>();
    }
    found.then(|| ticks as f64 / ticks_per_second)
}
