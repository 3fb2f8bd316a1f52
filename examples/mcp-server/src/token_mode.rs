//! Opaque access tokens (issue 16): `--token-format opaque` makes the embedded development
//! authorization server issue random strings that the layer judges by RFC 7662 introspection
//! at that server; `--introspection` does the same at an external authorization server
//! (`--issuer`), with this resource server's own client credentials there.
//!
//! Both modes are hybrid: a JWT-shaped token of the same issuer is still validated locally
//! with the issuer's keys, an opaque one goes to the issuer's introspection endpoint (see
//! [`mcp_auth::introspection`]). An accepted answer is reused for at most
//! `--introspection-max-cache` seconds (default 60), and never past the token's `exp`: that
//! is the **revocation delay**, how late a token revoked at the authorization server is
//! still accepted.
//!
//! The command-line flags are [`TokenModeArgs`] (flattened into the example's arguments);
//! [`Config::introspection`](crate::Config::introspection) carries them to
//! [`start`](crate::start), which checks them ([`TokenModeError`]) before anything listens.

use crate::AuthorizationServer;
use mcp_auth::TrustedIssuer;
use mcp_auth::introspection::{AssertionKey, ClientAuth, Introspection};
use mcp_auth_dev::{DevAuthorizationServer, TokenFormat};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest `--introspection-max-cache` accepted: an hour of revocation delay.
pub const MAX_CACHE_LIMIT_SECS: u64 = 3600;

/// The command-line flags of the opaque-token modes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TokenModeArgs {
    /// Development authorization server: the form of its access tokens. `opaque`: random
    /// strings the MCP server introspects at the development server (RFC 7662) with the
    /// resource-server credentials it generated.
    #[arg(
        long,
        env = "MCP_AUTH_TOKEN_FORMAT",
        value_name = "jwt|opaque",
        conflicts_with_all = ["issuer", "provider"]
    )]
    pub token_format: Option<TokenFormat>,

    /// With --issuer: judge its opaque access tokens by RFC 7662 introspection (its JWTs are
    /// still validated with its keys), authenticating as --introspection-client-id with
    /// --introspection-secret (client_secret_basic) or --introspection-key-file
    /// (private_key_jwt).
    #[arg(
        long,
        env = "MCP_AUTH_INTROSPECTION",
        requires_all = ["issuer", "introspection_client_id", "introspection_credential"]
    )]
    pub introspection: bool,

    /// The client id of this MCP server at the authorization server's introspection endpoint.
    #[arg(
        long,
        env = "MCP_AUTH_INTROSPECTION_CLIENT_ID",
        value_name = "CLIENT_ID",
        requires = "introspection"
    )]
    pub introspection_client_id: Option<String>,

    /// Its client secret (client_secret_basic). Prefer the environment variable: a flag is
    /// visible to other local users in the process list.
    #[arg(
        long,
        env = "MCP_AUTH_INTROSPECTION_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        requires = "introspection",
        group = "introspection_credential"
    )]
    pub introspection_secret: Option<String>,

    /// Its private key (private_key_jwt, RFC 7523): a PKCS#8 file, PEM (`BEGIN PRIVATE KEY`)
    /// or DER, of an RSA (RS256), P-256 (ES256) or Ed25519 (EdDSA) key.
    #[arg(
        long,
        env = "MCP_AUTH_INTROSPECTION_KEY_FILE",
        value_name = "PATH",
        requires = "introspection",
        group = "introspection_credential"
    )]
    pub introspection_key_file: Option<PathBuf>,

    /// The `kid` of that key, as registered in the client's JWKS.
    #[arg(
        long,
        env = "MCP_AUTH_INTROSPECTION_KEY_ID",
        value_name = "KID",
        requires = "introspection_key_file"
    )]
    pub introspection_key_id: Option<String>,

    /// The introspection endpoint [default: `introspection_endpoint` of the issuer's RFC 8414
    /// metadata].
    #[arg(
        long,
        env = "MCP_AUTH_INTROSPECTION_ENDPOINT",
        value_name = "URL",
        requires = "introspection"
    )]
    pub introspection_endpoint: Option<String>,

    /// How long an accepted introspection answer is reused, at most (never past the token's
    /// exp): the revocation delay [default: 60].
    #[arg(
        long,
        env = "MCP_AUTH_INTROSPECTION_MAX_CACHE",
        value_name = "SECONDS",
        value_parser = parse_max_cache
    )]
    pub introspection_max_cache: Option<Duration>,
}

/// `--introspection-max-cache`: whole seconds, 1 to [`MAX_CACHE_LIMIT_SECS`].
///
/// # Errors
///
/// A message naming the accepted range.
pub fn parse_max_cache(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (1..=MAX_CACHE_LIMIT_SECS).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(format!(
            "{:?} is not a number of seconds from 1 to {MAX_CACHE_LIMIT_SECS}",
            s.chars().take(32).collect::<String>()
        )),
    }
}

impl TokenModeArgs {
    /// The development server's token format (default JWT).
    pub fn dev_token_format(&self) -> TokenFormat {
        self.token_format.unwrap_or_default()
    }

    /// What the flags ask for: `None` when no introspection flag is given.
    pub fn introspection_config(&self) -> Option<IntrospectionConfig> {
        let client = self.introspection_client_id.as_ref().and_then(|id| {
            match (&self.introspection_secret, &self.introspection_key_file) {
                (Some(secret), _) => Some(ClientCredentials::Secret {
                    client_id: id.clone(),
                    secret: secret.clone(),
                }),
                (None, Some(path)) => Some(ClientCredentials::PrivateKeyJwt {
                    client_id: id.clone(),
                    key_file: path.clone(),
                    kid: self.introspection_key_id.clone(),
                }),
                (None, None) => None,
            }
        });
        let wanted = self.introspection
            || self.introspection_max_cache.is_some()
            || self.token_format == Some(TokenFormat::Opaque);
        wanted.then(|| IntrospectionConfig {
            client,
            endpoint: self.introspection_endpoint.clone(),
            max_cache: self.introspection_max_cache,
        })
    }
}

/// How opaque tokens are introspected ([`Config::introspection`](crate::Config::introspection)).
#[derive(Debug, Clone, Default)]
pub struct IntrospectionConfig {
    /// This resource server's credentials at an external authorization server; `None` with
    /// the development server in opaque mode, whose generated resource-server client is used.
    pub client: Option<ClientCredentials>,
    /// The endpoint, instead of the issuer metadata's `introspection_endpoint`.
    pub endpoint: Option<String>,
    /// The revocation delay (default 60 s).
    pub max_cache: Option<Duration>,
}

/// Client authentication at the introspection endpoint (RFC 7662 §2.1).
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientCredentials {
    /// `client_secret_basic`.
    Secret {
        /// The client id.
        client_id: String,
        /// The secret (never shown by `Debug`).
        secret: String,
    },
    /// `private_key_jwt` with a PKCS#8 key read from a file at start.
    PrivateKeyJwt {
        /// The client id.
        client_id: String,
        /// The PKCS#8 file (PEM or DER).
        key_file: PathBuf,
        /// The key's `kid`.
        kid: Option<String>,
    },
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret { client_id, .. } => f
                .debug_struct("Secret")
                .field("client_id", client_id)
                .field("secret", &"[redacted]")
                .finish(),
            Self::PrivateKeyJwt {
                client_id,
                key_file,
                kid,
            } => f
                .debug_struct("PrivateKeyJwt")
                .field("client_id", client_id)
                .field("key_file", key_file)
                .field("kid", kid)
                .finish(),
        }
    }
}

/// Why the opaque-token settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenModeError {
    /// Introspection settings without a mode that introspects.
    #[error(
        "--introspection-max-cache needs --token-format opaque (development server) or --introspection (with --issuer)"
    )]
    NoIntrospection,
    /// Introspection asked for with an identity-provider preset.
    #[error("introspection does not apply to --provider (its presets validate JWTs)")]
    Provider,
    /// Credentials or an endpoint given for the development server, which has its own.
    #[error(
        "--introspection-client-id, --introspection-secret, --introspection-key-file and --introspection-endpoint apply to --introspection with --issuer; the development server brings its own"
    )]
    DevCredentials,
    /// `--introspection` without complete client credentials.
    #[error(
        "--introspection needs --introspection-client-id and --introspection-secret or --introspection-key-file"
    )]
    MissingCredentials,
    /// The key file cannot be read.
    #[error("--introspection-key-file {path}: {source}")]
    KeyFileRead {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The key file holds no usable key.
    #[error(
        "--introspection-key-file {path}: not a PKCS#8 RSA (2048 bits or more), P-256 or Ed25519 private key, PEM or DER"
    )]
    KeyFileInvalid {
        /// The file.
        path: PathBuf,
    },
}

/// Checks the opaque-token settings against the authorization server, before anything
/// starts.
///
/// # Errors
///
/// The [`TokenModeError`] naming the flags that do not fit.
pub fn check(
    server: &AuthorizationServer,
    config: Option<&IntrospectionConfig>,
) -> Result<(), TokenModeError> {
    let Some(config) = config else {
        return Ok(());
    };
    match server {
        AuthorizationServer::Provider(_) => Err(TokenModeError::Provider),
        AuthorizationServer::Dev(d) if d.token_format != TokenFormat::Opaque => {
            Err(TokenModeError::NoIntrospection)
        }
        AuthorizationServer::Dev(_) if config.client.is_some() || config.endpoint.is_some() => {
            Err(TokenModeError::DevCredentials)
        }
        AuthorizationServer::External(_) if config.client.is_none() => {
            Err(TokenModeError::MissingCredentials)
        }
        _ => Ok(()),
    }
}

/// The trusted-issuer entry of the main authorization server when its opaque tokens are
/// introspected: the development server in opaque mode (`dev`), or the external one with
/// credentials. `None`: JWTs only, as before.
///
/// # Errors
///
/// As [`check`], and a key file that cannot be read or used.
pub fn main_issuer(
    server: &AuthorizationServer,
    config: Option<&IntrospectionConfig>,
    dev: Option<&DevAuthorizationServer>,
) -> Result<Option<(TrustedIssuer, Introspected)>, TokenModeError> {
    check(server, config)?;
    match (server, dev) {
        (AuthorizationServer::Dev(d), Some(dev)) if d.token_format == TokenFormat::Opaque => {
            dev_issuer(dev, config)
        }
        (AuthorizationServer::External(ext), _) => match config {
            Some(c) => external_issuer(&ext.issuer, ext.jwks_uri.as_deref(), c),
            None => return Ok(None),
        },
        _ => return Ok(None),
    }
    .map(|trusted| Some((trusted, Introspected::new(server, config, dev))))
}

/// Where and how the main issuer's opaque tokens are introspected, for the printed
/// instructions ([`RunningServer::introspection`](crate::RunningServer::introspection)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspected {
    /// The endpoint; `None`: the one of the issuer's RFC 8414 metadata.
    pub endpoint: Option<String>,
    /// How long an answer is reused at most: the revocation delay.
    pub max_cache: Duration,
}

impl Introspected {
    fn new(
        server: &AuthorizationServer,
        config: Option<&IntrospectionConfig>,
        dev: Option<&DevAuthorizationServer>,
    ) -> Self {
        let max_cache = config
            .and_then(|c| c.max_cache)
            .unwrap_or(mcp_auth::core::introspection::DEFAULT_MAX_CACHE);
        let endpoint = match server {
            AuthorizationServer::Dev(_) => dev.map(DevAuthorizationServer::introspection_endpoint),
            _ => config.and_then(|c| c.endpoint.clone()),
        };
        Self {
            endpoint,
            max_cache,
        }
    }
}

/// Lines for the printed instructions when opaque tokens are introspected (`None`
/// otherwise): where, the revocation delay, and with the development server, how to
/// revoke a token. With `--token-format opaque` no token is minted at start (it would be a
/// JWT): step 2's client-credentials request gets an opaque one.
pub fn instructions(server: &crate::RunningServer) -> Option<String> {
    let i = server.introspection()?;
    let secs = i.max_cache.as_secs();
    let at = i
        .endpoint
        .clone()
        .unwrap_or_else(|| "the endpoint of its metadata".to_owned());
    let mut out = format!(
        "  Opaque access tokens:         introspected (RFC 7662) at {at}; an answer is reused \
         for at most {secs} s, the revocation delay\n"
    );
    if let Some((id, secret)) = server.demo_client() {
        out.push_str(&format!(
            "    (no token minted here: they would be JWTs; step 2 gets an opaque one. Revoke it with\n     \
             curl -sS -u {id}:{secret} -d \"token=$TOKEN\" {}/revoke\n     \
             and it is refused at most {secs} s later)\n",
            server.as_issuer
        ));
    }
    Some(out)
}

/// The trusted-issuer entry of the development server in opaque mode: its tokens are
/// introspected at its `/introspect` with its resource-server client.
///
/// # Errors
///
/// [`TokenModeError::DevCredentials`] when external credentials or an endpoint were given.
pub fn dev_issuer(
    server: &DevAuthorizationServer,
    config: Option<&IntrospectionConfig>,
) -> Result<TrustedIssuer, TokenModeError> {
    let default = IntrospectionConfig::default();
    let config = config.unwrap_or(&default);
    if config.client.is_some() || config.endpoint.is_some() {
        return Err(TokenModeError::DevCredentials);
    }
    let rs = server.resource_server_client();
    let mut introspection = Introspection::new(ClientAuth::client_secret_basic(
        rs.client_id(),
        rs.client_secret(),
    ))
    .endpoint(server.introspection_endpoint());
    if let Some(max) = config.max_cache {
        introspection = introspection.max_cache(max);
    }
    Ok(TrustedIssuer::new(server.issuer()).introspection(introspection))
}

/// The trusted-issuer entry of an external authorization server whose opaque tokens are
/// introspected (`--issuer … --introspection`); its JWTs keep being validated with the keys
/// at `jwks_uri`, or discovered from its metadata.
///
/// # Errors
///
/// [`TokenModeError::MissingCredentials`], or the key file cannot be read or used.
pub fn external_issuer(
    issuer: &str,
    jwks_uri: Option<&str>,
    config: &IntrospectionConfig,
) -> Result<TrustedIssuer, TokenModeError> {
    let client = match &config.client {
        None => return Err(TokenModeError::MissingCredentials),
        Some(ClientCredentials::Secret { client_id, secret }) => {
            ClientAuth::client_secret_basic(client_id, secret)
        }
        Some(ClientCredentials::PrivateKeyJwt {
            client_id,
            key_file,
            kid,
        }) => ClientAuth::private_key_jwt(client_id, read_key(key_file, kid.as_deref())?),
    };
    let mut introspection = Introspection::new(client);
    if let Some(url) = &config.endpoint {
        introspection = introspection.endpoint(url);
    }
    if let Some(max) = config.max_cache {
        introspection = introspection.max_cache(max);
    }
    let mut trusted = TrustedIssuer::new(issuer);
    if let Some(uri) = jwks_uri {
        trusted = trusted.jwks_uri(uri);
    }
    Ok(trusted.introspection(introspection))
}

/// A PKCS#8 private key from a PEM (`-----BEGIN PRIVATE KEY-----`) or DER file; the key
/// type decides the algorithm.
fn read_key(path: &Path, kid: Option<&str>) -> Result<AssertionKey, TokenModeError> {
    let invalid = || TokenModeError::KeyFileInvalid {
        path: path.to_owned(),
    };
    let bytes = std::fs::read(path).map_err(|source| TokenModeError::KeyFileRead {
        path: path.to_owned(),
        source,
    })?;
    let der = match std::str::from_utf8(&bytes) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN") => {
            pem_pkcs8(text).ok_or_else(invalid)?
        }
        _ => bytes,
    };
    let kid = kid.map(str::to_owned);
    AssertionKey::es256_pkcs8(&der, kid.clone())
        .or_else(|_| AssertionKey::ed25519_pkcs8(&der, kid.clone()))
        .or_else(|_| AssertionKey::rs256_pkcs8(&der, kid))
        .map_err(|_| invalid())
}

/// The DER inside the one `PRIVATE KEY` block of a PEM text (RFC 7468 §10).
fn pem_pkcs8(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body = text
        .split_once("-----BEGIN PRIVATE KEY-----")?
        .1
        .split_once("-----END PRIVATE KEY-----")?
        .0;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_cache_takes_seconds_in_range() {
        assert_eq!(parse_max_cache("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_max_cache("3600"), Ok(Duration::from_secs(3600)));
        for bad in ["0", "3601", "-1", "1.5", "60s", "", "x"] {
            let e = parse_max_cache(bad).expect_err(bad);
            assert!(e.contains("from 1 to 3600"), "{bad}: {e}");
        }
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let c = ClientCredentials::Secret {
            client_id: "rs".into(),
            secret: "sup3r-s3cret".into(),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("rs") && !shown.contains("sup3r"), "{shown}");
    }

    #[test]
    fn a_key_file_is_read_as_pem_or_der_and_junk_is_refused() {
        let dir =
            std::env::temp_dir().join(format!("mcp-auth-example-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let doc = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        let der = dir.join("key.der");
        std::fs::write(&der, doc.as_ref()).unwrap();
        assert_eq!(read_key(&der, Some("k1")).unwrap().alg(), "ES256");
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
        let pem = dir.join("key.pem");
        std::fs::write(
            &pem,
            format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n"),
        )
        .unwrap();
        assert_eq!(read_key(&pem, None).unwrap().alg(), "ES256");
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "-----BEGIN PRIVATE KEY-----\nnot base64!\n").unwrap();
        let e = read_key(&junk, None).expect_err("junk");
        assert!(matches!(e, TokenModeError::KeyFileInvalid { .. }), "{e}");
        let e = read_key(&dir.join("missing"), None).expect_err("missing");
        assert!(e.to_string().contains("--introspection-key-file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
