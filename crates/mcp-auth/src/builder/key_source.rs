//! The key settings of [`McpAuthBuilder`]: the default JWKS key source made from the
//! issuers and their `jwks_uri`s, and the refusal of its options beside a custom key source.

use super::McpAuthBuilder;
use crate::config_error::ConfigError;
use mcp_auth_core::keys::KeySource;
use std::sync::Arc;

impl McpAuthBuilder {
    /// With a custom key source, the options only the default JWKS key source reads would be
    /// dropped without a word: refused instead.
    pub(super) fn check_no_default_source_options(&self) -> Result<(), ConfigError> {
        let ignored = [
            #[cfg(feature = "jwks")]
            (
                "jwks_uri",
                !self.jwks_uris.is_empty()
                    || self
                        .trusted
                        .iter()
                        .any(|t| t.jwks_uri.is_some() && !t.jwks_uri_from_preset),
            ),
            #[cfg(feature = "jwks")]
            ("allow_insecure_http", self.allow_insecure_http.is_some()),
            ("max_key_staleness", self.max_key_staleness.is_some()),
        ];
        match ignored.into_iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(ConfigError::IgnoredByKeySource(name)),
            None => Ok(()),
        }
    }

    #[cfg(feature = "jwks")]
    pub(super) fn default_key_source(&self) -> Result<Arc<dyn KeySource>, ConfigError> {
        if self.issuers.is_empty() && self.trusted.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        // The source keeps the keys of every algorithm some entry allows; each entry's own
        // list is applied to its tokens' headers.
        let mut algorithms = self.defaults.algorithms.clone();
        for t in &self.trusted {
            for alg in &t.settings.algorithms {
                if !algorithms.contains(alg) {
                    algorithms.push(*alg);
                }
            }
        }
        let mut b = mcp_auth_jwks::JwksKeySource::builder()
            .algorithms(&algorithms)
            .allow_insecure_http(self.allow_insecure_http.unwrap_or(false));
        if let Some(max) = self.max_key_staleness {
            b = b.max_staleness(max);
        }
        for iss in &self.issuers {
            b = match self.jwks_uris.iter().find(|(i, _)| i == iss) {
                Some((_, uri)) => b.issuer_with_jwks_uri(iss.clone(), uri.clone()),
                None => b.issuer(iss.clone()),
            };
        }
        for t in &self.trusted {
            for iss in &t.issuers {
                b = match &t.jwks_uri {
                    Some(uri) => b.issuer_with_jwks_uri(iss.clone(), uri.clone()),
                    None => b.issuer(iss.clone()),
                };
            }
        }
        Ok(Arc::new(b.build()?))
    }

    #[cfg(not(feature = "jwks"))]
    pub(super) fn default_key_source(&self) -> Result<Arc<dyn KeySource>, ConfigError> {
        Err(ConfigError::NoKeySource)
    }
}
