//! The HTTP client that delivers webhooks: every address it connects to passes the endpoint
//! policy, it follows no redirect, it gives up at a deadline, and it reads at most a bound of
//! a receiver's answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::endpoint::{check_addr, EndpointError, EndpointPolicy};

/// Resolves host names like the system does, then refuses the name if any of its addresses
/// is one the policy refuses. Checking here, rather than on the URL alone, closes DNS
/// rebinding: the address checked is the address connected to.
///
/// A name with one internal address among public ones is refused whole: whoever controls its
/// DNS could otherwise steer a connection to the internal one.
#[derive(Clone, Debug)]
pub struct PolicyResolver {
    policy: EndpointPolicy,
}

impl PolicyResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: EndpointPolicy) -> PolicyResolver {
        PolicyResolver { policy }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            // Port 0: the connector puts the URL's port on each address.
            let addrs = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let addrs: Addrs = Box::new(all_allowed(addrs.collect(), &policy)?.into_iter());
            Ok(addrs)
        })
    }
}

/// `addrs` when the policy allows every one of them, else the first refusal.
fn all_allowed(
    addrs: Vec<SocketAddr>,
    policy: &EndpointPolicy,
) -> Result<Vec<SocketAddr>, EndpointError> {
    for addr in &addrs {
        check_addr(addr, policy)?;
    }
    Ok(addrs)
}

/// The webhook client under `policy`: connect and total time both bounded by `timeout`, no
/// redirect followed (a 3xx is the receiver's answer, recorded as such), no proxy from the
/// environment (a proxy would resolve the name, out of the resolver's sight), and names
/// resolved by [`PolicyResolver`].
///
/// The resolver sees host names only; a URL with a literal address must have passed
/// [`Endpoint::parse`](super::Endpoint::parse) under the same policy before every request.
pub fn client(policy: EndpointPolicy, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .dns_resolver(Arc::new(PolicyResolver::new(policy)))
        .user_agent(concat!("Dunlin-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(ClientError::Build)
}

/// A response body read up to a bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CappedBody {
    /// At most the cap's bytes, from the start of the body.
    pub bytes: Vec<u8>,
    /// Whether the body went on past the cap (the rest is not read).
    pub truncated: bool,
}

/// Reads `response`'s body, stopping at `cap` bytes: a receiver's answer is kept for the
/// delivery log, and a receiver that streams without end must not fill the host's memory.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<CappedBody, ClientError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ClientError::Body)? {
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(CappedBody {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(CappedBody {
        bytes,
        truncated: false,
    })
}

/// The client could not be built, or a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TLS backend or the resolver could not be set up.
    #[error("cannot build the webhook HTTP client")]
    Build(#[source] reqwest::Error),
    /// The connection failed or timed out while the body was read.
    #[error("cannot read the webhook receiver's response")]
    Body(#[source] reqwest::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|a| a.parse().expect("a test address"))
            .collect()
    }

    #[test]
    fn one_internal_address_refuses_the_whole_name() {
        let strict = EndpointPolicy::default();
        let public = addrs(&["93.184.216.34:0", "[2606:4700::1111]:0"]);
        assert_eq!(all_allowed(public.clone(), &strict), Ok(public));
        for internal in ["10.0.0.7:0", "[::ffff:127.0.0.1]:0", "[fd00:ec2::254]:0"] {
            let mixed = addrs(&["93.184.216.34:0", internal, "[2606:4700::1111]:0"]);
            let err = all_allowed(mixed.clone(), &strict).expect_err(internal);
            assert!(
                matches!(err, EndpointError::AddressRefused { addr, .. } if addr == mixed[1].ip()),
                "{err}"
            );
            let open = EndpointPolicy {
                allow_http: false,
                allow_private: true,
            };
            assert_eq!(all_allowed(mixed.clone(), &open), Ok(mixed));
        }
    }
}
