//! Benchmarks live in `decide.rs`; run them with `cargo bench -p dunlin-benches`.

use std::time::Duration;

/// The process's CPU time so far, user and system, from `/proc/self/stat` (Linux; its
/// clock ticks are USER_HZ, 100 a second on every Linux platform). `None` elsewhere.
pub fn cpu_time() -> Option<(Duration, Duration)> {
    stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// The CPU time, user plus system, of every `postgres` process on the machine (the server
/// and its backends): what the database did for a bench that runs against a local server.
/// A backend that exits between two readings takes its time with it, so read both while
/// the bench's connections are open.
pub fn postgres_cpu() -> Duration {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    procs
        .flatten()
        .filter(|p| {
            p.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter_map(|p| std::fs::read_to_string(p.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| stat_cpu(&stat))
        .map(|(user, system)| user + system)
        .sum()
}

/// User and system time from a `/proc/PID/stat` line.
fn stat_cpu(stat: &str) -> Option<(Duration, Duration)> {
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let mut ticks = || {
        fields
            .next()?
            .parse::<u64>()
            .ok()
            .map(|t| Duration::from_millis(t * 10))
    };
    Some((ticks()?, ticks()?))
}
