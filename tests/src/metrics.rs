//! Metrics a test reads back without sharing the process's recorder.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use metrics::Recorder;

/// A future polled with its own recorder as the thread's, on whichever thread runs it: what
/// it records reaches that recorder and no other, so tests running at once do not see each
/// other's figures. Tasks it spawns record into the process's recorder as usual.
pub struct Recorded<R, F> {
    recorder: R,
    inner: Pin<Box<F>>,
}

impl<R: Recorder, F: Future> Recorded<R, F> {
    /// `inner`, recording into `recorder`.
    pub fn new(recorder: R, inner: F) -> Self {
        Recorded {
            recorder,
            inner: Box::pin(inner),
        }
    }
}

impl<R: Recorder + Unpin, F: Future> Future for Recorded<R, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        metrics::with_local_recorder(&this.recorder, || this.inner.as_mut().poll(cx))
    }
}
