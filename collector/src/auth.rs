//! Bearer-token checks for ingest.

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
            .any(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
    }
}

/// Compares without an early exit, so response timing does not reveal a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
