//! The webhook client against a real HTTP server on 127.0.0.1: the endpoint policy at
//! registration and at connect time, no redirects, the deadline, the capped read, and a
//! signature the receiver verifies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use dunlin_delivery::webhook::{
    client, read_capped, verify, Endpoint, EndpointError, EndpointPolicy, Refusal, SigningKeys,
    WebhookSecret,
};

/// What the test server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// 200 with a short body.
    Ok,
    /// 302 to another path of the same server.
    Redirect,
    /// 200, but only after this long.
    Slow(Duration),
    /// 200 with a body of this many bytes, written in 64 KiB pieces.
    Huge(usize),
}

/// A request as the server read it.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server on 127.0.0.1:0, one thread, one connection at a time; it stops when
/// dropped.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(answer: Answer) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let port = listener.local_addr().expect("bound address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, connections, stop) =
                (requests.clone(), connections.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            connections.fetch_add(1, Ordering::Relaxed);
                            // A client that hangs up mid-answer is part of the tests.
                            let _ = serve(stream, answer, &requests, &stop);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Server {
            port,
            requests,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// A small POST to `/hook` through `client`, naming this server by `host`.
    async fn post(
        &self,
        client: &reqwest::Client,
        host: &str,
    ) -> reqwest::Result<reqwest::Response> {
        client.post(self.url(host, "/hook")).body("{}").send().await
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().expect("server lock").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    answer: Answer,
    requests: &Mutex<Vec<Received>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    // One request per connection (every answer says `Connection: close`), so a stopping
    // server never waits on an idle keep-alive connection.
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    requests.lock().expect("server lock").push(Received {
        path,
        headers,
        body,
    });
    match answer {
        Answer::Ok => write_ok(&mut writer, b"received")?,
        Answer::Redirect => writer.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?,
        Answer::Slow(delay) => {
            let until = Instant::now() + delay;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(10));
            }
            write_ok(&mut writer, b"late")?;
        }
        Answer::Huge(size) => {
            write!(writer, "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n")?;
            let piece = vec![b'x'; 64 * 1024];
            let mut left = size;
            while left > 0 && !stop.load(Ordering::Relaxed) {
                let n = left.min(piece.len());
                writer.write_all(&piece[..n])?;
                left -= n;
            }
        }
    }
    Ok(())
}

fn write_ok(writer: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    write!(
        writer,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    writer.write_all(body)
}

fn private_allowed() -> EndpointPolicy {
    EndpointPolicy {
        allow_http: false,
        allow_private: true,
    }
}

/// Whether `err`'s chain holds an [`EndpointError`] refusing loopback at connect time.
fn refused_at_connect(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(EndpointError::AddressRefused {
            addr,
            reason: Refusal::Address(_),
        }) = e.downcast_ref::<EndpointError>()
        {
            return addr.is_loopback();
        }
        source = e.source();
    }
    false
}

#[tokio::test]
async fn loopback_is_refused_under_the_default_policy() {
    let server = Server::start(Answer::Ok);
    let strict = EndpointPolicy::default();

    // At registration: a literal loopback address, and the name localhost.
    for host in ["127.0.0.1", "localhost"] {
        let err =
            Endpoint::parse(&server.url(host, "/hook"), &strict).expect_err("loopback is refused");
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    // At connect time: the resolver refuses the name's loopback address, so nothing
    // reaches the server even when the URL check was skipped (as for a name that resolved
    // elsewhere at registration: DNS rebinding).
    let http_only = EndpointPolicy {
        allow_http: true,
        allow_private: false,
    };
    let client = client(http_only, Duration::from_secs(5)).expect("client");
    let err = server
        .post(&client, "localhost")
        .await
        .expect_err("the resolver refuses loopback");
    assert!(refused_at_connect(&err), "{err:?}");
    assert_eq!(server.connections.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn allow_private_delivers_a_signed_event_the_receiver_verifies() {
    let server = Server::start(Answer::Ok);
    let policy = private_allowed();
    // Through the resolver (a name) and past it (a literal address).
    for host in ["localhost", "127.0.0.1"] {
        let endpoint =
            Endpoint::parse(&server.url(host, "/hook"), &policy).expect("allowed endpoint");
        let secret = WebhookSecret::from_key(vec![42; 32]).expect("key");
        let keys = SigningKeys::new(secret.clone());
        let body = br#"{"type":"invoice.closed"}"#;
        let timestamp = 1_772_442_005;
        let signed = keys.sign("act_1", timestamp, body);

        let mut request = client(policy, Duration::from_secs(5))
            .expect("client")
            .post(endpoint.url().clone())
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("delivered");
        assert_eq!(response.status(), 200);
        let answer = read_capped(response, 1024).await.expect("body");
        assert_eq!(answer.bytes, b"received");
        assert!(!answer.truncated);

        let received = server.requests().pop().expect("one request");
        assert_eq!(received.path, "/hook");
        assert_eq!(received.body, body);
        verify(
            &[&secret],
            received.header("webhook-id").expect("webhook-id"),
            received
                .header("webhook-timestamp")
                .expect("webhook-timestamp"),
            received
                .header("webhook-signature")
                .expect("webhook-signature"),
            &received.body,
            timestamp,
            300,
        )
        .expect("the receiver verifies the signature");
    }
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = Server::start(Answer::Redirect);
    let client = client(private_allowed(), Duration::from_secs(5)).expect("client");
    let response = server.post(&client, "127.0.0.1").await.expect("an answer");
    assert_eq!(response.status(), 302);
    assert_eq!(
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/elsewhere")
    );
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/hook"]);
}

#[tokio::test]
async fn a_slow_receiver_hits_the_timeout() {
    let server = Server::start(Answer::Slow(Duration::from_secs(3)));
    let client = client(private_allowed(), Duration::from_millis(300)).expect("client");
    // The receiver answers after 3 s: only the client's own timeout ends the call in error.
    let err = server
        .post(&client, "127.0.0.1")
        .await
        .expect_err("the receiver is too slow");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_huge_body_is_cut_at_the_cap() {
    let size = 32 * 1024 * 1024;
    let server = Server::start(Answer::Huge(size));
    let client = client(private_allowed(), Duration::from_secs(10)).expect("client");
    let response = server.post(&client, "127.0.0.1").await.expect("an answer");
    assert_eq!(response.content_length(), Some(size as u64));
    let answer = read_capped(response, 1000).await.expect("capped body");
    assert_eq!(answer.bytes.len(), 1000);
    assert!(answer.bytes.iter().all(|&b| b == b'x'));
    assert!(answer.truncated);

    // A body that ends exactly at the cap is whole.
    let exact = Server::start(Answer::Huge(1000));
    let response = exact.post(&client, "127.0.0.1").await.expect("an answer");
    let answer = read_capped(response, 1000).await.expect("whole body");
    assert_eq!(answer.bytes.len(), 1000);
    assert!(!answer.truncated);
}
