//! Benchmarks live in `decide.rs`; run them with `cargo bench -p dunlin-benches`.

use std::time::Duration;

/// The process's CPU time so far, user and system, from `/proc/self/stat` (Linux; its
/// clock ticks are USER_HZ, 100 a second on every Linux platform). `None` elsewhere.
pub fn cpu_time() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
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
