//! Webhook endpoints are untrusted tenant input: a URL that points inside the operator's
//! network would make Dunlin a proxy into it (server-side request forgery).
//!
//! The check has two steps. [`Endpoint::parse`] checks the URL, at registration and before
//! each request (the policy may have changed): scheme, length, no credentials, no fragment,
//! and a literal address against the ranges below. A host name can resolve to anything, and to
//! something else on the next lookup (DNS rebinding), so [`check_addr`] runs on every address
//! the name resolves to at connect time (the HTTP client's resolver, `client.rs`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{Ipv4Net, Ipv6Net};
use url::{Host, Url};

use dunlin_core::text::{truncate, Escaped};

/// The longest endpoint URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// The longest text of a refused URL quoted in an error.
const QUOTED_BYTES: usize = 200;

/// What the operator allows endpoints to be; both off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// Plain `http` to any host (HTTPS is otherwise required outside loopback).
    pub allow_http: bool,
    /// Loopback, private, link-local and the other internal ranges below, for an operator
    /// whose tenants' receivers live on the same network (and for tests).
    pub allow_private: bool,
}

/// An endpoint URL that passed [`Endpoint::parse`] under some policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
}

impl Endpoint {
    /// Checks `raw` as a webhook endpoint under `policy`.
    pub fn parse(raw: &str, policy: &EndpointPolicy) -> Result<Endpoint, EndpointError> {
        let refuse = |reason: Refusal| EndpointError::Refused {
            url: Escaped(&truncate(raw, QUOTED_BYTES)).to_string(),
            reason,
        };
        if raw.len() > MAX_URL_BYTES {
            return Err(refuse(Refusal::TooLong {
                len: raw.len(),
                max: MAX_URL_BYTES,
            }));
        }
        let url = Url::parse(raw).map_err(|source| refuse(Refusal::Syntax(source)))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(refuse(Refusal::Scheme));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse(Refusal::Credentials));
        }
        if url.fragment().is_some() {
            return Err(refuse(Refusal::Fragment));
        }
        let loopback = match url.host() {
            None => return Err(refuse(Refusal::NoHost)),
            Some(Host::Domain(name)) => {
                let local = is_localhost_name(name);
                if local && !policy.allow_private {
                    return Err(refuse(Refusal::Address(AddressRange::Loopback)));
                }
                local
            }
            Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), policy)
                .map(|()| ip.is_loopback())
                .map_err(refuse)?,
            Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), policy)
                .map(|()| {
                    ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                })
                .map_err(refuse)?,
        };
        if url.scheme() == "http" && !(policy.allow_http || loopback) {
            return Err(refuse(Refusal::PlainHttp));
        }
        Ok(Endpoint { url })
    }

    /// The checked URL.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A parsed URL is percent-encoded ASCII, so it prints as one inert line already.
        f.write_str(self.url.as_str())
    }
}

/// `localhost` and its subdomains resolve to loopback by convention (RFC 6761), whatever a
/// resolver says, so they are loopback before any lookup.
fn is_localhost_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name
            .len()
            .checked_sub(".localhost".len())
            .and_then(|start| name.get(start..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(".localhost"))
}

/// Checks one resolved address under `policy`: the connect-time step.
pub fn check_addr(addr: &SocketAddr, policy: &EndpointPolicy) -> Result<(), EndpointError> {
    check_ip(addr.ip(), policy).map_err(|reason| EndpointError::AddressRefused {
        addr: addr.ip(),
        reason,
    })
}

fn check_ip(ip: IpAddr, policy: &EndpointPolicy) -> Result<(), Refusal> {
    match address_range(ip) {
        Some(range) if !policy.allow_private => Err(Refusal::Address(range)),
        _ => Ok(()),
    }
}

/// The internal range `ip` falls in, if any.
pub fn address_range(ip: IpAddr) -> Option<AddressRange> {
    match ip {
        IpAddr::V4(ip) => v4_range(ip),
        IpAddr::V6(ip) => v6_range(ip),
    }
}

/// Ranges a webhook may not reach unless the operator allows private targets. Earlier rows
/// win, so the metadata address is named as such rather than as link-local.
const V4_RANGES: [(Ipv4Net, AddressRange); 14] = [
    (v4(169, 254, 169, 254, 32), AddressRange::CloudMetadata),
    // Alibaba Cloud's metadata service, inside the CGNAT range.
    (v4(100, 100, 100, 200, 32), AddressRange::CloudMetadata),
    (v4(255, 255, 255, 255, 32), AddressRange::Broadcast),
    (v4(0, 0, 0, 0, 8), AddressRange::Unspecified),
    (v4(127, 0, 0, 0, 8), AddressRange::Loopback),
    (v4(10, 0, 0, 0, 8), AddressRange::Private),
    (v4(172, 16, 0, 0, 12), AddressRange::Private),
    (v4(192, 168, 0, 0, 16), AddressRange::Private),
    (v4(100, 64, 0, 0, 10), AddressRange::SharedCgnat),
    (v4(169, 254, 0, 0, 16), AddressRange::LinkLocal),
    (v4(224, 0, 0, 0, 4), AddressRange::Multicast),
    // IETF protocol assignments, benchmarking and the reserved class E: nobody's receiver.
    (v4(192, 0, 0, 0, 24), AddressRange::Reserved),
    (v4(198, 18, 0, 0, 15), AddressRange::Reserved),
    (v4(240, 0, 0, 0, 4), AddressRange::Reserved),
];

const V6_RANGES: [(Ipv6Net, AddressRange); 5] = [
    // AWS's metadata service over IPv6, inside the unique local range.
    (
        Ipv6Net::new_assert(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), 128),
        AddressRange::CloudMetadata,
    ),
    (
        Ipv6Net::new_assert(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
        AddressRange::UniqueLocal,
    ),
    (
        Ipv6Net::new_assert(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
        AddressRange::LinkLocal,
    ),
    // Site-local: deprecated, but still routed inside some networks.
    (
        Ipv6Net::new_assert(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
        AddressRange::Private,
    ),
    (
        Ipv6Net::new_assert(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
        AddressRange::Multicast,
    ),
];

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

fn v4_range(ip: Ipv4Addr) -> Option<AddressRange> {
    V4_RANGES
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, range)| range.clone())
}

fn v6_range(ip: Ipv6Addr) -> Option<AddressRange> {
    if ip.is_unspecified() {
        return Some(AddressRange::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressRange::Loopback);
    }
    // Forms that carry an IPv4 address reach that address: judge it.
    if let Some(embedded) = embedded_v4(ip) {
        return v4_range(embedded).map(|range| AddressRange::Embedded(Box::new(range)));
    }
    V6_RANGES
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, range)| range.clone())
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, deprecated), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::/48`)
/// address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let last = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let segments = ip.segments();
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return Some(mapped);
    }
    if segments[..6] == [0; 6] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(last);
    }
    if segments[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// An internal address range, named in refusals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressRange {
    /// A cloud provider's instance metadata service (169.254.169.254 and kin).
    CloudMetadata,
    /// 0.0.0.0/8 and `::`.
    Unspecified,
    /// 127.0.0.0/8 and `::1` (and `localhost`).
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) and IPv6 site-local.
    Private,
    /// Shared address space for carrier-grade NAT, 100.64.0.0/10.
    SharedCgnat,
    /// 169.254.0.0/16 and fe80::/10.
    LinkLocal,
    /// IPv6 unique local addresses, fc00::/7.
    UniqueLocal,
    /// 224.0.0.0/4 and ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// IETF protocol assignments, benchmarking and class E.
    Reserved,
    /// An IPv6 form (mapped, compatible, NAT64, 6to4) of an IPv4 address in this range.
    Embedded(Box<AddressRange>),
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            AddressRange::CloudMetadata => "a cloud metadata address",
            AddressRange::Unspecified => "the unspecified address",
            AddressRange::Loopback => "loopback",
            AddressRange::Private => "a private range",
            AddressRange::SharedCgnat => "the carrier-grade NAT range 100.64.0.0/10",
            AddressRange::LinkLocal => "link-local",
            AddressRange::UniqueLocal => "the unique local range fc00::/7",
            AddressRange::Multicast => "multicast",
            AddressRange::Broadcast => "the broadcast address",
            AddressRange::Reserved => "a reserved range",
            AddressRange::Embedded(range) => {
                return write!(f, "an IPv6 form of an IPv4 address in {range}")
            }
        };
        f.write_str(name)
    }
}

/// Why an endpoint URL is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Longer than [`MAX_URL_BYTES`].
    #[error("it is {len} bytes long; at most {max} allowed")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a URL.
    #[error("it is not a URL: {0}")]
    Syntax(#[source] url::ParseError),
    /// Neither `https` nor `http`.
    #[error("only https is allowed")]
    Scheme,
    /// `http` outside loopback, and the operator does not allow it.
    #[error("it is plain http; https is required")]
    PlainHttp,
    /// A user name or password in the URL would be sent to the receiver and logged.
    #[error("it carries credentials; put them in the receiver's checks, not the URL")]
    Credentials,
    /// A fragment is never sent; one in an endpoint is a mistake.
    #[error("it has a #fragment")]
    Fragment,
    /// No host: the URL parser requires one for http(s), so this guards the match only.
    #[error("it has no host")]
    NoHost,
    /// An internal address, and the operator does not allow private targets.
    #[error("it points to {0}")]
    Address(AddressRange),
}

/// An endpoint refused, at registration or at connect time.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The URL is refused.
    #[error("webhook endpoint \"{url}\" is refused: {reason}")]
    Refused {
        /// The URL, bounded and escaped.
        url: String,
        /// Why.
        #[source]
        reason: Refusal,
    },
    /// The host name resolved to an address the policy refuses.
    #[error("webhook endpoint address {addr} is refused: {reason}")]
    AddressRefused {
        /// The address.
        addr: IpAddr,
        /// Why.
        #[source]
        reason: Refusal,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> EndpointPolicy {
        EndpointPolicy::default()
    }

    fn open() -> EndpointPolicy {
        EndpointPolicy {
            allow_http: true,
            allow_private: true,
        }
    }

    fn range(ip: &str) -> Option<AddressRange> {
        address_range(ip.parse().expect("a test address parses"))
    }

    fn embedded(range: AddressRange) -> Option<AddressRange> {
        Some(AddressRange::Embedded(Box::new(range)))
    }

    #[test]
    fn ipv4_ranges_and_their_edges() {
        use AddressRange::*;
        let table: &[(&str, Option<AddressRange>)] = &[
            ("0.0.0.0", Some(Unspecified)),
            ("0.255.255.255", Some(Unspecified)),
            ("1.0.0.0", None),
            ("9.255.255.255", None),
            ("10.0.0.0", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("11.0.0.0", None),
            ("100.63.255.255", None),
            ("100.64.0.0", Some(SharedCgnat)),
            ("100.127.255.255", Some(SharedCgnat)),
            ("100.128.0.0", None),
            ("100.100.100.200", Some(CloudMetadata)),
            ("126.255.255.255", None),
            ("127.0.0.0", Some(Loopback)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.255", Some(Loopback)),
            ("128.0.0.0", None),
            ("169.253.255.255", None),
            ("169.254.0.0", Some(LinkLocal)),
            ("169.254.169.253", Some(LinkLocal)),
            ("169.254.169.254", Some(CloudMetadata)),
            ("169.254.255.255", Some(LinkLocal)),
            ("169.255.0.0", None),
            ("172.15.255.255", None),
            ("172.16.0.0", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.0", None),
            ("192.0.0.0", Some(Reserved)),
            ("192.0.0.255", Some(Reserved)),
            ("192.0.1.0", None),
            ("192.167.255.255", None),
            ("192.168.0.0", Some(Private)),
            ("192.168.255.255", Some(Private)),
            ("192.169.0.0", None),
            ("198.17.255.255", None),
            ("198.18.0.0", Some(Reserved)),
            ("198.19.255.255", Some(Reserved)),
            ("198.20.0.0", None),
            ("223.255.255.255", None),
            ("224.0.0.0", Some(Multicast)),
            ("239.255.255.255", Some(Multicast)),
            ("240.0.0.0", Some(Reserved)),
            ("255.255.255.254", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            ("8.8.8.8", None),
            ("93.184.216.34", None),
        ];
        for (ip, expected) in table {
            assert_eq!(&range(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_and_their_edges() {
        use AddressRange::*;
        let table: &[(&str, Option<AddressRange>)] = &[
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::2", embedded(Unspecified)),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("fc00::", Some(UniqueLocal)),
            ("fd12:3456::1", Some(UniqueLocal)),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(UniqueLocal)),
            ("fd00:ec2::254", Some(CloudMetadata)),
            ("fe00::", None),
            ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("fe80::", Some(LinkLocal)),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(LinkLocal)),
            ("fec0::", Some(Private)),
            ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Private)),
            ("ff00::", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Multicast)),
            ("2001:4860:4860::8888", None),
            ("2606:4700::1111", None),
            // IPv4-mapped forms of each kind of range, and of a public address.
            ("::ffff:127.0.0.1", embedded(Loopback)),
            ("::ffff:10.1.2.3", embedded(Private)),
            ("::ffff:172.31.0.1", embedded(Private)),
            ("::ffff:192.168.1.1", embedded(Private)),
            ("::ffff:100.64.0.1", embedded(SharedCgnat)),
            ("::ffff:169.254.1.1", embedded(LinkLocal)),
            ("::ffff:169.254.169.254", embedded(CloudMetadata)),
            ("::ffff:0.0.0.0", embedded(Unspecified)),
            ("::ffff:224.0.0.1", embedded(Multicast)),
            ("::ffff:255.255.255.255", embedded(Broadcast)),
            ("::ffff:8.8.8.8", None),
            ("::ffff:7f00:1", embedded(Loopback)),
            // IPv4-compatible, NAT64 and 6to4 forms.
            ("::127.0.0.1", embedded(Loopback)),
            ("::8.8.8.8", None),
            ("64:ff9b::10.0.0.1", embedded(Private)),
            ("64:ff9b::8.8.8.8", None),
            ("2002:a9fe:a9fe::", embedded(CloudMetadata)),
            ("2002:c0a8:0101::1", embedded(Private)),
            ("2002:0808:0808::1", None),
        ];
        for (ip, expected) in table {
            assert_eq!(&range(ip), expected, "{ip}");
        }
    }

    #[test]
    fn allow_private_lets_every_range_through() {
        for ip in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd00::1"] {
            let addr = SocketAddr::new(ip.parse().expect("test address"), 443);
            assert!(check_addr(&addr, &strict()).is_err(), "{ip}");
            assert_eq!(check_addr(&addr, &open()), Ok(()), "{ip}");
        }
        let public = SocketAddr::new("8.8.8.8".parse().expect("test address"), 443);
        assert_eq!(check_addr(&public, &strict()), Ok(()));
    }

    #[test]
    fn connect_time_refusal_names_the_address_and_range() {
        let addr: SocketAddr = "[::ffff:169.254.169.254]:80".parse().expect("test address");
        let err = check_addr(&addr, &strict()).expect_err("metadata is refused");
        assert_eq!(
            err.to_string(),
            "webhook endpoint address ::ffff:169.254.169.254 is refused: it points to an IPv6 \
             form of an IPv4 address in a cloud metadata address"
        );
    }

    #[test]
    fn registration_accepts_public_https() {
        for url in [
            "https://hooks.example.com/dunlin",
            "https://hooks.example.com:8443/a/b?tenant=1",
            "https://93.184.216.34/hook",
            "https://[2606:4700::1111]/hook",
        ] {
            let endpoint = Endpoint::parse(url, &strict()).expect(url);
            assert_eq!(endpoint.url().as_str(), url);
        }
    }

    #[test]
    fn registration_refusals() {
        let refusal = |url: &str, policy: EndpointPolicy| match Endpoint::parse(url, &policy) {
            Err(EndpointError::Refused { reason, .. }) => reason,
            other => panic!("{url} under {policy:?}: {other:?}"),
        };
        let p = strict();
        assert_eq!(refusal("http://hooks.example.com/", p), Refusal::PlainHttp);
        assert_eq!(refusal("ftp://hooks.example.com/", p), Refusal::Scheme);
        assert_eq!(refusal("file:///etc/passwd", p), Refusal::Scheme);
        assert_eq!(
            refusal("https://user:pw@hooks.example.com/", p),
            Refusal::Credentials
        );
        assert_eq!(
            refusal("https://user@hooks.example.com/", p),
            Refusal::Credentials
        );
        assert_eq!(
            refusal("https://hooks.example.com/#x", p),
            Refusal::Fragment
        );
        assert_eq!(refusal("https://hooks.example.com/#", p), Refusal::Fragment);
        assert!(matches!(refusal("not a url", p), Refusal::Syntax(_)));
        assert!(matches!(refusal("https://", p), Refusal::Syntax(_)));
        assert!(matches!(
            refusal("https://bad host/", p),
            Refusal::Syntax(_)
        ));
        assert_eq!(refusal("mailto:a@example.com", p), Refusal::Scheme);
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(
            refusal(&long, p),
            Refusal::TooLong {
                len: long.len(),
                max: MAX_URL_BYTES
            }
        );
        let edge = format!(
            "https://hooks.example.com/{}",
            "a".repeat(MAX_URL_BYTES - "https://hooks.example.com/".len())
        );
        assert_eq!(edge.len(), MAX_URL_BYTES);
        assert!(Endpoint::parse(&edge, &p).is_ok());

        // Literal internal addresses, in every spelling the URL parser accepts.
        use AddressRange::*;
        for (url, range) in [
            ("https://127.0.0.1/", Loopback),
            ("https://127.1/", Loopback),
            ("https://0x7f000001/", Loopback),
            ("https://2130706433/", Loopback),
            ("https://0177.0.0.1/", Loopback),
            ("https://[::1]/", Loopback),
            ("https://localhost/", Loopback),
            ("https://LOCALHOST./", Loopback),
            ("https://api.localhost/", Loopback),
            ("https://10.0.0.1/", Private),
            ("https://169.254.169.254/latest/meta-data/", CloudMetadata),
            ("https://[fd00::1]/", UniqueLocal),
            ("https://[fe80::1]/", LinkLocal),
            ("https://0.0.0.0/", Unspecified),
            ("https://224.0.0.1/", Multicast),
            ("https://255.255.255.255/", Broadcast),
            ("https://100.64.0.1/", SharedCgnat),
        ] {
            assert_eq!(refusal(url, p), Refusal::Address(range), "{url}");
        }
        assert_eq!(
            refusal("https://[::ffff:127.0.0.1]/", p),
            Refusal::Address(Embedded(Box::new(Loopback)))
        );
        // A name that only looks local is a name: its addresses are checked at connect time.
        assert!(Endpoint::parse("https://localhost.example.com/", &p).is_ok());
    }

    #[test]
    fn plain_http_only_on_loopback_or_when_allowed() {
        let private_only = EndpointPolicy {
            allow_http: false,
            allow_private: true,
        };
        for url in [
            "http://127.0.0.1:8080/",
            "http://localhost:8080/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]:8080/",
        ] {
            assert!(Endpoint::parse(url, &private_only).is_ok(), "{url}");
            assert!(Endpoint::parse(url, &strict()).is_err(), "{url}");
        }
        for url in ["http://10.0.0.1/", "http://hooks.example.com/"] {
            assert!(matches!(
                Endpoint::parse(url, &private_only),
                Err(EndpointError::Refused {
                    reason: Refusal::PlainHttp,
                    ..
                })
            ));
        }
        let http_only = EndpointPolicy {
            allow_http: true,
            allow_private: false,
        };
        assert!(Endpoint::parse("http://hooks.example.com/", &http_only).is_ok());
        assert!(Endpoint::parse("http://10.0.0.1/", &http_only).is_err());
        assert!(Endpoint::parse("http://10.0.0.1/", &open()).is_ok());
    }

    #[test]
    fn refused_url_is_quoted_escaped_and_bounded() {
        let hostile = format!("https://user:pw@a.example/\u{1b}[31m\n{}", "x".repeat(1000));
        let err = Endpoint::parse(&hostile, &strict()).expect_err("credentials");
        let message = err.to_string();
        assert!(!message.contains('\u{1b}'), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains(r"\u{1b}[31m\n"), "{message}");
        assert!(message.len() < QUOTED_BYTES + 200, "{message}");
    }
}
