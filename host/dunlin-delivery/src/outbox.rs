//! The outbox: recorded actions on their way to people and systems. What needs no database
//! lives in its own modules: the send-time checks (`checks`) and the retry timing (`retry`).

pub mod checks;
pub mod retry;
