//! Why a DPoP proof was refused, and the RFC 9449 §7.1 error code each reason is answered with.

use std::fmt;

/// A claim a DPoP proof must carry (RFC 9449 §4.2; `ath` because a resource server always
/// sees the proof together with an access token, §7).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProofClaim {
    /// `jti`: the proof's unique identifier.
    Jti,
    /// `htm`: the HTTP method.
    Htm,
    /// `htu`: the HTTP target URI.
    Htu,
    /// `iat`: the creation time.
    Iat,
    /// `ath`: the hash of the access token.
    Ath,
}

impl ProofClaim {
    /// The claim's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jti => "jti",
            Self::Htm => "htm",
            Self::Htu => "htu",
            Self::Iat => "iat",
            Self::Ath => "ath",
        }
    }
}

impl fmt::Display for ProofClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a DPoP proof (or the binding of the token to it) was refused.
///
/// Each reason has a fixed [`description`](Self::description) made of the characters RFC 6750
/// §3 allows in `error_description`: no part of the proof or the token ever appears in it,
/// nor in `Display` or `Debug`. [`error_code`](Self::error_code) is the RFC 9449 §7.1 code;
/// every reason is answered with 401 and a `DPoP` challenge
/// ([`ChallengeTemplate::render_dpop_error`](crate::challenge::ChallengeTemplate::render_dpop_error)).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DpopError {
    /// No `DPoP` header with a `DPoP` token (RFC 9449 §7.1: the proof MUST be received).
    #[error("no DPoP proof")]
    MissingProof,
    /// More than one `DPoP` header (RFC 9449 §4.3).
    #[error("more than one DPoP header")]
    MultipleProofs,
    /// The header value is not one compact JWS with JSON header and payload (RFC 9449 §4.3:
    /// "a single and well-formed JWT").
    #[error("DPoP proof is not a well-formed JWT")]
    Malformed,
    /// The proof is longer than the policy allows.
    #[error("DPoP proof too large")]
    TooLarge,
    /// `typ` is not `dpop+jwt` (RFC 9449 §4.3, RFC 8725 §3.11).
    #[error("DPoP proof type is not dpop+jwt")]
    WrongType,
    /// `alg` missing, `none`, symmetric, unknown or not in the allow-list (RFC 9449 §4.3).
    #[error("DPoP proof algorithm not allowed")]
    AlgorithmNotAllowed,
    /// A `crit` or `b64` header member: no extension is understood (RFC 7515 §4.1.11).
    #[error("DPoP proof has critical header parameters")]
    CriticalHeader,
    /// No `jwk` header, or one that is not a JSON object (RFC 9449 §4.2).
    #[error("DPoP proof has no jwk header")]
    MissingKey,
    /// The `jwk` header holds private key members (RFC 9449 §4.3).
    #[error("DPoP proof key contains private key material")]
    PrivateKey,
    /// The `jwk` is not a public key of the algorithm's family, or is not usable.
    #[error("DPoP proof key does not fit its algorithm")]
    InvalidKey,
    /// The signature does not verify with the `jwk` (RFC 9449 §4.3).
    #[error("DPoP proof signature invalid")]
    BadSignature,
    /// A required claim is missing or has the wrong type (RFC 9449 §4.3).
    #[error("DPoP proof lacks a required claim: {0}")]
    MissingClaim(ProofClaim),
    /// `jti` longer than the policy keeps (RFC 9449 §11.1: unnecessarily large values).
    #[error("DPoP proof jti too long")]
    JtiTooLong,
    /// `htm` is not the request's method (RFC 9449 §4.3).
    #[error("DPoP proof htm does not match the request method")]
    MethodMismatch,
    /// `htu` is not the request's URI (RFC 9449 §4.3).
    #[error("DPoP proof htu does not match the request URI")]
    UriMismatch,
    /// `iat` outside the acceptance window (RFC 9449 §4.3, §11.1).
    #[error("DPoP proof iat outside the acceptance window")]
    IatOutOfWindow,
    /// `ath` is not the hash of the presented access token (RFC 9449 §4.3, §7).
    #[error("DPoP proof ath does not match the access token")]
    AccessTokenHashMismatch,
    /// The replay store has seen this proof's `jti` (RFC 9449 §11.1): returned by the caller
    /// when the store answers "replayed" for [`CheckedProof::jti_hash`](crate::dpop::CheckedProof::jti_hash);
    /// [`DpopPolicy::check`](crate::dpop::DpopPolicy::check) never returns it.
    #[error("DPoP proof already used")]
    Replayed,
    /// The server requires a nonce and the proof has none (RFC 9449 §9).
    #[error("resource server requires nonce in DPoP proof")]
    NonceRequired,
    /// The proof's nonce is not one this server issued recently (RFC 9449 §9).
    #[error("DPoP proof nonce is invalid or stale")]
    NonceInvalid,
    /// The access token is not bound to a key (no `cnf.jkt`), yet came with the `DPoP`
    /// scheme (RFC 9449 §6, §7.1).
    #[error("access token is not bound to a DPoP key")]
    TokenNotBound,
    /// The token's `cnf.jkt` is not the thumbprint of the proof's key (RFC 9449 §6.1, §7.1).
    #[error("invalid DPoP key binding")]
    KeyBindingMismatch,
}

impl DpopError {
    /// The RFC 9449 §7.1 error code: `use_dpop_nonce` for nonce problems, `invalid_token` when
    /// the token's key binding fails, `invalid_dpop_proof` otherwise.
    pub fn error_code(self) -> &'static str {
        match self {
            Self::NonceRequired | Self::NonceInvalid => "use_dpop_nonce",
            Self::TokenNotBound | Self::KeyBindingMismatch => "invalid_token",
            _ => "invalid_dpop_proof",
        }
    }

    /// Whether the answer must carry a fresh `DPoP-Nonce` header (RFC 9449 §9).
    pub fn needs_nonce(self) -> bool {
        self.error_code() == "use_dpop_nonce"
    }

    /// The HTTP status: 401 for every reason (RFC 9449 §7.1, §9).
    pub fn status(self) -> http::StatusCode {
        http::StatusCode::UNAUTHORIZED
    }

    /// A short fixed description, safe for logs and for `error_description`: the same text
    /// as `Display`.
    pub fn description(self) -> &'static str {
        match self {
            Self::MissingProof => "no DPoP proof",
            Self::MultipleProofs => "more than one DPoP header",
            Self::Malformed => "DPoP proof is not a well-formed JWT",
            Self::TooLarge => "DPoP proof too large",
            Self::WrongType => "DPoP proof type is not dpop+jwt",
            Self::AlgorithmNotAllowed => "DPoP proof algorithm not allowed",
            Self::CriticalHeader => "DPoP proof has critical header parameters",
            Self::MissingKey => "DPoP proof has no jwk header",
            Self::PrivateKey => "DPoP proof key contains private key material",
            Self::InvalidKey => "DPoP proof key does not fit its algorithm",
            Self::BadSignature => "DPoP proof signature invalid",
            Self::MissingClaim(ProofClaim::Jti) => "DPoP proof lacks a required claim: jti",
            Self::MissingClaim(ProofClaim::Htm) => "DPoP proof lacks a required claim: htm",
            Self::MissingClaim(ProofClaim::Htu) => "DPoP proof lacks a required claim: htu",
            Self::MissingClaim(ProofClaim::Iat) => "DPoP proof lacks a required claim: iat",
            Self::MissingClaim(ProofClaim::Ath) => "DPoP proof lacks a required claim: ath",
            Self::JtiTooLong => "DPoP proof jti too long",
            Self::MethodMismatch => "DPoP proof htm does not match the request method",
            Self::UriMismatch => "DPoP proof htu does not match the request URI",
            Self::IatOutOfWindow => "DPoP proof iat outside the acceptance window",
            Self::AccessTokenHashMismatch => "DPoP proof ath does not match the access token",
            Self::Replayed => "DPoP proof already used",
            Self::NonceRequired => "resource server requires nonce in DPoP proof",
            Self::NonceInvalid => "DPoP proof nonce is invalid or stale",
            Self::TokenNotBound => "access token is not bound to a DPoP key",
            Self::KeyBindingMismatch => "invalid DPoP key binding",
        }
    }
}

/// A DPoP configuration that cannot work, refused when it is built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopConfigError {
    /// No proof algorithm allowed.
    #[error("the DPoP algorithm allow-list is empty")]
    NoAlgorithms,
    /// The `iat` window is zero or wider than the MCP DPoP profile's ±300 s.
    #[error("the DPoP iat window must be 1 to {max} seconds, got {got}")]
    Window {
        /// The window asked for, in seconds.
        got: u64,
        /// The widest window allowed, in seconds.
        max: u64,
    },
    /// No nonce secret.
    #[error("DPoP nonces need at least one secret")]
    NoNonceSecret,
    /// A nonce secret shorter than 32 bytes.
    #[error("DPoP nonce secret {index} has {len} bytes, fewer than 32")]
    ShortNonceSecret {
        /// Position of the secret in the list.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// A nonce slot of zero seconds.
    #[error("the DPoP nonce slot must be at least one second")]
    NonceSlot,
}
