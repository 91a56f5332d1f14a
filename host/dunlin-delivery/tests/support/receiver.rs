//! A webhook receiver for the tests and the bench: hyper on 127.0.0.1:0, recording every
//! request and answering from a programmed script; dropping it cancels its token, which
//! stops the listener and every open connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One programmed answer.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    /// `status` with an empty body, at once.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    /// This answer with `body`.
    pub fn body(mut self, body: impl Into<String>) -> Reply {
        self.body = body.into();
        self
    }

    /// This answer with a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// This answer, after `delay`.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// A request as the receiver read it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Recorded {
    /// The value of header `name`, if it came once or more (the first).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    script: Vec<Reply>,
    requests: Mutex<Vec<Recorded>>,
    record: bool,
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: CancellationToken,
}

impl Receiver {
    /// Starts a receiver that answers its `n`th request with `script[n]`, and every request
    /// after the script's end with its last reply. Call within a tokio runtime.
    pub async fn start(script: Vec<Reply>) -> Receiver {
        Receiver::start_with(script, true).await
    }

    /// [`start`](Self::start), keeping no requests (for the bench).
    pub async fn start_without_recording(script: Vec<Reply>) -> Receiver {
        Receiver::start_with(script, false).await
    }

    async fn start_with(script: Vec<Reply>, record: bool) -> Receiver {
        assert!(!script.is_empty(), "a receiver needs at least one reply");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let state = Arc::new(State {
            script,
            requests: Mutex::new(Vec::new()),
            record,
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept(listener, Arc::clone(&state), stop.clone()));
        Receiver { addr, state, stop }
    }

    /// The URL of `path` on this receiver, by address.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("no panics").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept(listener: TcpListener, state: Arc<State>, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (state, stop) = (Arc::clone(&state), stop.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, Arc::clone(&state)));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                () = stop.cancelled() => {}
                // A client that gives up mid-answer is part of the tests.
                _ = connection => {}
            }
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let reply = {
        let mut requests = state.requests.lock().expect("no panics");
        let mut count = requests.len();
        if state.record {
            requests.push(Recorded {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                    .collect(),
                body,
            });
        } else {
            count = 0;
        }
        state.script[count.min(state.script.len() - 1)].clone()
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    Ok(response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("a valid programmed reply"))
}
