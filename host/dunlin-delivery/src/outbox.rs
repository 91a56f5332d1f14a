//! The outbox: recorded actions on their way to people and systems. `worker` claims them
//! from the store, checks, sends and writes back; what needs no database lives in its own
//! modules: the send-time checks (`checks`) and the retry timing (`retry`).

pub mod checks;
mod figures;
pub mod retry;
pub mod worker;
