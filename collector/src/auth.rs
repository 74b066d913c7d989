//! Bearer-token checks for ingest.

use subtle::ConstantTimeEq;

/// The accepted ingest tokens; empty means no authentication.
#[derive(Debug, Clone, Default)]
pub struct IngestAuth {
    tokens: Vec<String>,
}

impl IngestAuth {
    /// Accepts any of `tokens`; none means everyone is accepted.
    pub fn new(tokens: Vec<String>) -> Self {
        IngestAuth {
            tokens: tokens.into_iter().filter(|t| !t.is_empty()).collect(),
        }
    }

    /// Whether an `Authorization` header value lets the request in.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        if self.tokens.is_empty() {
            return true;
        }
        let Some(token) = authorization.and_then(|h| {
            let (scheme, token) = h.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        }) else {
            return false;
        };
        self.tokens
            .iter()
            // Constant time, so response timing does not reveal a prefix.
            .any(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_tokens_means_open() {
        assert!(IngestAuth::new(vec![]).allows(None));
    }

    #[test]
    fn bearer_token_must_match() {
        let auth = IngestAuth::new(vec!["s3cret".into()]);
        assert!(auth.allows(Some("Bearer s3cret")));
        assert!(auth.allows(Some("bearer s3cret")));
        assert!(!auth.allows(Some("Bearer wrong")));
        assert!(!auth.allows(Some("s3cret")));
        assert!(!auth.allows(None));
    }
}
