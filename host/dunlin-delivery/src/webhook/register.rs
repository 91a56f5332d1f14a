//! A tenant's new webhook endpoint as every caller (the CLI, the HTTP API) makes one: the URL
//! checked under the operator's policy, the event names known, an id, and a fresh secret.

use dunlin_store::NewEndpoint;

use super::endpoint::{Endpoint, EndpointError, EndpointPolicy};
use super::event::{EventType, UnknownEventType};
use super::sign::{random_endpoint_id, SignError, WebhookSecret};

/// Why an endpoint cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The URL is refused by the operator's policy.
    #[error(transparent)]
    Url(#[from] EndpointError),
    /// An event name that is no event type's.
    #[error(transparent)]
    Event(#[from] UnknownEventType),
    /// The operating system's random source failed.
    #[error(transparent)]
    Secret(#[from] SignError),
}

/// The endpoint to store for `url` receiving `events` (each named once, in their order;
/// none: every event), with the id given or a random `ep-…`, and its new secret, which the
/// caller shows once.
pub fn new_endpoint(
    id: Option<&str>,
    url: &str,
    events: &[String],
    policy: &EndpointPolicy,
) -> Result<(NewEndpoint, WebhookSecret), RegisterError> {
    let endpoint = Endpoint::parse(url, policy)?;
    let mut names: Vec<String> = Vec::new();
    for name in events {
        let name = name.parse::<EventType>()?.as_str().to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let id = match id {
        Some(id) => id.to_owned(),
        None => random_endpoint_id()?,
    };
    let secret = WebhookSecret::generate()?;
    let row = NewEndpoint {
        id,
        url: endpoint.to_string(),
        events: names,
        secret: secret.expose_whsec(),
    };
    Ok((row, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_names_each_event_once_and_gets_an_id_and_a_secret() {
        let events = [
            "invoice.escalated".to_owned(),
            "invoice.escalated".to_owned(),
        ];
        let (row, secret) = new_endpoint(
            None,
            "https://erp.example.com/hook",
            &events,
            &EndpointPolicy::default(),
        )
        .unwrap();
        assert_eq!(row.events, ["invoice.escalated"]);
        assert!(row.id.starts_with("ep-"), "{}", row.id);
        assert_eq!(row.secret, secret.expose_whsec());
    }

    #[test]
    fn a_refused_url_or_an_unknown_event_makes_no_endpoint() {
        let strict = EndpointPolicy::default();
        let err = new_endpoint(Some("a"), "http://erp.example.com/", &[], &strict).unwrap_err();
        assert!(matches!(err, RegisterError::Url(_)), "{err}");
        let err = new_endpoint(
            Some("a"),
            "https://erp.example.com/",
            &["nope".into()],
            &strict,
        )
        .unwrap_err();
        assert!(matches!(err, RegisterError::Event(_)), "{err}");
    }
}
