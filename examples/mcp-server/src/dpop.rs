//! `--dpop off|allowed|required` and `--redis URL`: DPoP (RFC 9449) on the example's layer
//! ([`mcp_auth::dpop`]). The development authorization server binds a token to the key of
//! the DPoP proof its token request carries (`cnf.jkt`, `token_type: DPoP`); this server
//! then takes it with `Authorization: DPoP` and a fresh proof per request. Proofs' `jti`s are
//! kept in memory, or, with `--redis` ([`crate::fleet`]), in a Redis every instance behind a
//! load balancer shares (which must run with `maxmemory-policy noeviction`, docs/security.md),
//! over the connection the other fleet stores use.

use crate::StartError;
use crate::fleet::{Fleet, Secret};
use mcp_auth::McpAuthBuilder;
use mcp_auth::dpop::{DpopMode, DpopPolicy, MemoryReplayStore, Nonces, RedisReplayStore};
use std::time::Duration;

/// The slot length of `--dpop-nonce-secret` nonces: a nonce lives 5 to 10 minutes.
const NONCE_SLOT: Duration = Duration::from_secs(300);

/// Proof `jti`s the in-memory store holds: 600 proofs a second for the default window.
const MEMORY_RECORDS: usize = 400_000;

/// The `--dpop` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DpopFlag {
    /// Bearer tokens only (DPoP-bound tokens are refused).
    #[default]
    Off,
    /// Bearer and DPoP.
    Allowed,
    /// DPoP only (the metadata says `dpop_bound_access_tokens_required: true`).
    Required,
}

/// The command-line flags, flattened into the example's arguments.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DpopArgs {
    /// DPoP-bound access tokens (RFC 9449): off, allowed (beside Bearer) or required.
    /// With --redis, the proofs' jti are kept there, shared by every instance.
    #[arg(long = "dpop", env = "MCP_AUTH_DPOP", value_enum, default_value_t = DpopFlag::Off)]
    pub mode: DpopFlag,
    /// Require a server-provided nonce in every proof (RFC 9449 §9): stateless nonces, an
    /// HMAC with this secret (at least 32 bytes; the same on every instance) over 5-minute
    /// slots. Needs --dpop allowed or required.
    #[arg(
        long,
        env = "MCP_AUTH_DPOP_NONCE_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub dpop_nonce_secret: Option<Secret>,
}

/// DPoP in the example's [`Config`](crate::Config).
#[derive(Debug, Clone, Default)]
pub struct DpopSettings {
    /// Which schemes the layer takes.
    pub mode: DpopFlag,
    /// The nonces' HMAC secret; `None`: no nonces.
    pub nonce_secret: Option<Secret>,
}

impl DpopArgs {
    /// The settings these flags ask for.
    pub fn settings(&self) -> DpopSettings {
        DpopSettings {
            mode: self.mode,
            nonce_secret: self.dpop_nonce_secret.clone(),
        }
    }
}

impl DpopSettings {
    /// `builder` with DPoP as configured: nothing for off, otherwise the replay store in
    /// memory or on the fleet's Redis connection (its eviction policy checked now).
    pub(crate) async fn apply(
        &self,
        builder: McpAuthBuilder,
        fleet: Option<&Fleet>,
    ) -> Result<McpAuthBuilder, StartError> {
        let mode = match self.mode {
            DpopFlag::Off if self.nonce_secret.is_some() => {
                return Err(StartError::Dpop(
                    "--dpop-nonce-secret needs --dpop allowed or required".to_owned(),
                ));
            }
            DpopFlag::Off => return Ok(builder),
            DpopFlag::Allowed => DpopMode::Allowed,
            DpopFlag::Required => DpopMode::Required,
        };
        let mut policy = DpopPolicy::new();
        if let Some(secret) = &self.nonce_secret {
            let nonces = Nonces::new([secret.expose().as_bytes()], NONCE_SLOT)
                .map_err(|e| StartError::Dpop(format!("--dpop-nonce-secret: {e}")))?;
            policy = policy.with_nonces(nonces);
        }
        Ok(match fleet {
            None => builder.dpop(mode, policy, MemoryReplayStore::new(MEMORY_RECORDS)),
            Some(fleet) => {
                let store = RedisReplayStore::from_connection(fleet.connection())
                    .build()
                    .await
                    .map_err(|e| StartError::Dpop(format!("Redis replay store: {e}")))?;
                builder.dpop(mode, policy, store)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::FleetSettings;
    use crate::{Config, start};
    use mcp_auth_dev::test_support::redis::RedisServer;

    async fn metadata(settings: DpopSettings) -> (serde_json::Value, reqwest::Response) {
        metadata_in(settings, FleetSettings::default()).await
    }

    async fn metadata_in(
        settings: DpopSettings,
        fleet: FleetSettings,
    ) -> (serde_json::Value, reqwest::Response) {
        let server = start(Config {
            dpop: settings,
            fleet,
            ..Config::ephemeral()
        })
        .await
        .unwrap();
        let client = reqwest::Client::new();
        let doc = client
            .get(&server.metadata_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = server.mint_token(crate::policy::SCOPE_READ).unwrap();
        let res = client
            .post(&server.mcp_url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
            .send()
            .await
            .unwrap();
        server.shutdown().await;
        (doc, res)
    }

    #[tokio::test]
    async fn required_refuses_bearer_and_says_so_in_the_metadata() {
        let (doc, res) = metadata(DpopSettings {
            mode: DpopFlag::Required,
            nonce_secret: None,
        })
        .await;
        assert_eq!(doc["dpop_bound_access_tokens_required"], true);
        assert!(doc["dpop_signing_alg_values_supported"].is_array());
        assert_eq!(res.status(), 401);
        let challenge = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("DPoP algs="), "{challenge}");
    }

    #[tokio::test]
    async fn off_is_the_example_as_it_was() {
        let (doc, res) = metadata(DpopSettings::default()).await;
        assert!(doc.get("dpop_signing_alg_values_supported").is_none());
        assert_eq!(res.status(), 200);
    }

    #[tokio::test]
    async fn redis_without_dpop_is_refused_and_with_it_connects() {
        let fleet = |url: String| FleetSettings {
            redis: Some(url),
            secret: Some("s".repeat(32).as_str().into()),
            ..FleetSettings::default()
        };
        // Nothing else on (no --stateful, no rate limit): Redis would serve nothing.
        let refused = start(Config {
            dpop: DpopSettings {
                mode: DpopFlag::Off,
                nonce_secret: None,
            },
            fleet: fleet("redis://127.0.0.1:1/".to_owned()),
            ..Config::ephemeral()
        })
        .await;
        let Err(err) = refused else {
            panic!("--redis without --dpop started");
        };
        assert!(
            err.to_string()
                .contains("--redis needs --dpop allowed|required"),
            "{err}"
        );
        let Some(redis) = RedisServer::start(&[]) else {
            return;
        };
        let (doc, _) = metadata_in(
            DpopSettings {
                mode: DpopFlag::Allowed,
                nonce_secret: None,
            },
            fleet(redis.url()),
        )
        .await;
        assert!(doc["dpop_signing_alg_values_supported"].is_array());
        assert!(doc.get("dpop_bound_access_tokens_required").is_none());
    }

    #[tokio::test]
    async fn a_nonce_secret_needs_dpop_and_32_bytes_and_is_never_echoed() {
        let long = "s".repeat(32);
        let settings = DpopSettings {
            mode: DpopFlag::Required,
            nonce_secret: Some(long.as_str().into()),
        };
        assert!(
            !format!("{settings:?}").contains(&long),
            "the nonce secret is in a Debug print"
        );
        let start_with = |mode, secret: &str| {
            start(Config {
                dpop: DpopSettings {
                    mode,
                    nonce_secret: Some(secret.into()),
                },
                ..Config::ephemeral()
            })
        };
        let Err(err) = start_with(DpopFlag::Off, &"s".repeat(32)).await else {
            panic!("--dpop-nonce-secret without --dpop started");
        };
        assert!(err.to_string().contains("needs --dpop"), "{err}");
        let short = "short-secret-31-bytes-long-xxxx";
        let Err(err) = start_with(DpopFlag::Required, short).await else {
            panic!("a 31-byte nonce secret started");
        };
        let msg = err.to_string();
        assert!(msg.contains("--dpop-nonce-secret"), "{msg}");
        assert!(!msg.contains(short), "the secret is in the error: {msg}");
        let server = start_with(DpopFlag::Required, &"s".repeat(32))
            .await
            .unwrap();
        server.shutdown().await;
    }
}
