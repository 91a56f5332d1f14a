//! The outbox worker end to end: a real store on SQLite and PostgreSQL (set
//! `DUNLIN_TEST_POSTGRES_URL`), a real SMTP server (aiosmtpd) and a real webhook receiver
//! (hyper) on loopback sockets, and a clock the tests move by hand. One module per concern;
//! `scene.rs` seeds the store and runs the worker.

#[path = "../support/aiosmtpd.rs"]
#[allow(dead_code)] // The bench shares this file and uses other parts of it.
mod aiosmtpd;
#[path = "../support/python.rs"]
mod python;
#[path = "../support/receiver.rs"]
#[allow(dead_code)] // The bench shares this file and uses other parts of it.
mod receiver;

mod scene;

mod dead_letters;
mod email;
mod fairness;
mod outcomes;
mod send_time;
mod webhooks;
