//! Benchmarks live in `decide.rs`; run them with `cargo bench -p dunlin-benches`.
