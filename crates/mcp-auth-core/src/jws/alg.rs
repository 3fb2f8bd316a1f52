//! The algorithm allow-list and the header policy: which JWS algorithms exist (never `none`
//! or HMAC, RFC 8725 §3.1), the key family each needs, and the `typ` rule (RFC 9068 §4).

use std::fmt;

/// An asymmetric JWS algorithm (RFC 7518 §3, RFC 8037 §3.1).
///
/// There is no variant for `none` or HMAC: a resource server that checks tokens against an
/// issuer's public keys must never accept them (RFC 8725 §3.1–3.2), so no configuration can.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// EdDSA with Ed25519.
    EdDSA,
}

/// The key family an algorithm needs.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC` on P-256.
    EcP256,
    /// `kty: EC` on P-384.
    EcP384,
    /// `kty: OKP` on Ed25519.
    Ed25519,
}

impl Algorithm {
    /// Every algorithm, in order.
    pub const ALL: [Self; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The default allow-list: RS256 and ES256, the two algorithms MCP authorization servers
    /// commonly use.
    pub const DEFAULT_ALLOWED: [Self; 2] = [Self::RS256, Self::ES256];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE name. `none` and `HS*` give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The key family this algorithm must be used with (RFC 8725 §3.1: each key with one
    /// algorithm family).
    pub fn family(self) -> KeyFamily {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                KeyFamily::Rsa
            }
            Self::ES256 => KeyFamily::EcP256,
            Self::ES384 => KeyFamily::EcP384,
            Self::EdDSA => KeyFamily::Ed25519,
        }
    }

    pub(crate) fn verification(self) -> &'static dyn aws_lc_rs::signature::VerificationAlgorithm {
        use aws_lc_rs::signature as s;
        match self {
            Self::RS256 => &s::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &s::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &s::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &s::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &s::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &s::RSA_PSS_2048_8192_SHA512,
            Self::ES256 => &s::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &s::ECDSA_P384_SHA384_FIXED,
            Self::EdDSA => &s::ED25519,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the JOSE `typ` header is checked (RFC 9068 §4, RFC 8725 §3.11).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypPolicy {
    /// `typ` must be `at+jwt` or `application/at+jwt` (case-insensitive, RFC 9068 §4: "MUST
    /// verify that the typ header value is at+jwt or application/at+jwt and reject tokens
    /// carrying any other type value"). The default.
    #[default]
    Strict,
    /// Also accept `JWT` or no `typ`, for providers that do not emit RFC 9068 tokens. The
    /// audience check still keeps ID tokens issued to other clients out, but an ID token
    /// whose `aud` happens to equal the resource URI would pass: use only when the provider
    /// needs it.
    AllowJwt,
}

impl TypPolicy {
    #[inline]
    pub(super) fn accepts(self, typ: TypSeen) -> bool {
        match (self, typ) {
            (_, TypSeen::AccessToken) => true,
            (Self::AllowJwt, TypSeen::Jwt | TypSeen::Absent) => true,
            (Self::AllowJwt, TypSeen::Other) | (Self::Strict, _) => false,
        }
    }

    /// The more lenient of two rules: what either accepts.
    pub(crate) fn either(self, other: Self) -> Self {
        match (self, other) {
            (Self::Strict, Self::Strict) => Self::Strict,
            _ => Self::AllowJwt,
        }
    }
}

/// What a header's `typ` was, as far as [`TypPolicy`] cares: kept with a checked header so
/// that the rule of the issuer the payload names can be applied after a first check against
/// the union of several issuers' rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypSeen {
    /// `at+jwt` or `application/at+jwt`, any case (RFC 9068 §4).
    AccessToken,
    /// `JWT`, any case.
    Jwt,
    /// No `typ`.
    Absent,
    /// Anything else.
    Other,
}

impl TypSeen {
    #[inline]
    pub(super) fn of(typ: Option<&str>) -> Self {
        match typ {
            None => Self::Absent,
            Some(t) if t.eq_ignore_ascii_case("at+jwt") => Self::AccessToken,
            Some(t) if t.eq_ignore_ascii_case("application/at+jwt") => Self::AccessToken,
            Some(t) if t.eq_ignore_ascii_case("jwt") => Self::Jwt,
            Some(_) => Self::Other,
        }
    }
}

/// The JOSE header checks made before any key lookup.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    /// Allowed algorithms.
    pub algorithms: Vec<Algorithm>,
    /// `typ` rule.
    pub typ: TypPolicy,
    /// Maximum length of the whole token in bytes.
    pub max_token_len: usize,
}

impl Default for HeaderPolicy {
    fn default() -> Self {
        Self {
            algorithms: Algorithm::DEFAULT_ALLOWED.to_vec(),
            typ: TypPolicy::Strict,
            max_token_len: crate::credentials::DEFAULT_MAX_TOKEN_LEN,
        }
    }
}
