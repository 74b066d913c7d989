//! The webhook client: POSTs a notification body to its receiver, signed
//! with `X-Weir-Signature` when the receiver has an HMAC secret, and says
//! why when a delivery fails.

use crate::routing::Receiver;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A receiver's HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("receiver {receiver:?}: cannot set up its HTTP client: {reason}")]
pub struct ClientError {
    /// The receiver.
    pub receiver: String,
    /// Why.
    pub reason: String,
}

/// One HTTP client per receiver: each trusts its own extra CAs.
pub struct WebhookClient {
    clients: Vec<(String, reqwest::Client)>,
}

/// The HTTP client for one receiver: the system's CAs plus its `ca_file`.
fn client_for(receiver: &Receiver) -> Result<reqwest::Client, ClientError> {
    let failed = |reason: String| ClientError {
        receiver: receiver.name.clone(),
        reason,
    };
    let mut builder = reqwest::Client::builder();
    if let Some(pem) = &receiver.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| failed(e.to_string()))? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| failed(causes(&e)))
}

/// An error with its causes, so "error sending request" says why (a
/// refused connection, an unknown certificate issuer).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl WebhookClient {
    /// Sets up a client for each receiver.
    pub fn new(receivers: &[Receiver]) -> Result<Self, ClientError> {
        let clients = receivers
            .iter()
            .map(|r| Ok((r.name.clone(), client_for(r)?)))
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(WebhookClient { clients })
    }

    /// POSTs `body` to `receiver`: `Ok` on 2xx, else why not.
    pub async fn post(&self, receiver: &Receiver, body: &str) -> Result<(), String> {
        let client = self
            .clients
            .iter()
            .find(|(name, _)| *name == receiver.name)
            .map(|(_, c)| c)
            .ok_or_else(|| format!("receiver {:?} has no HTTP client", receiver.name))?;
        let mut request = client
            .post(&receiver.url)
            .timeout(receiver.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::USER_AGENT,
                concat!("weir/", env!("CARGO_PKG_VERSION")),
            )
            .body(body.to_string());
        if let Some(secret) = &receiver.hmac_secret {
            request = request.header("X-Weir-Signature", signature(secret, body.as_bytes()));
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("{} answered {}", receiver.url, response.status())),
            Err(e) if e.is_timeout() => Err(format!(
                "{} did not answer within {}",
                receiver.url,
                humantime::format_duration(receiver.timeout)
            )),
            Err(e) => Err(format!("cannot reach {}: {}", receiver.url, causes(&e))),
        }
    }
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
