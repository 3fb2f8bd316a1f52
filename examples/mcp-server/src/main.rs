//! `cargo run -p example-mcp-server`: the MCP server and a development authorization server on
//! loopback, and what to do next. `--issuer` runs it against another authorization server,
//! `--provider` against an identity provider through its preset (docs/providers.md).

use clap::Parser;
use example_mcp_server::{
    AuthorizationServer, Config, DEFAULT_BIND, DEFAULT_DEV_AS_BIND, DEV_SUBJECT, DevAsConfig,
    ExternalAs, ProviderConfig, ProviderKind, RunningServer, policy,
};
use std::net::SocketAddr;
use std::process::ExitCode;

/// An MCP server (rmcp, Streamable HTTP) protected by mcp-auth. Without --issuer or
/// --provider it also starts a development authorization server (never for production).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address of the MCP server (port 0: any free port).
    #[arg(long, env = "MCP_AUTH_BIND", default_value_t = DEFAULT_BIND)]
    bind: SocketAddr,

    /// Canonical resource URI of the MCP endpoint, the audience tokens must carry
    /// [default: http://<bind>/mcp]. Behind a proxy, the public URL.
    #[arg(long, env = "MCP_AUTH_RESOURCE")]
    resource: Option<String>,

    /// Trust this external authorization server (its exact `iss`) instead of starting the
    /// development one.
    #[arg(long, env = "MCP_AUTH_ISSUER")]
    issuer: Option<String>,

    /// JWKS URL of the external authorization server [default: discovered from its
    /// RFC 8414 / OpenID Connect metadata].
    #[arg(long, env = "MCP_AUTH_JWKS_URI", requires = "issuer")]
    jwks_uri: Option<String>,

    /// Also trust this external authorization server (its exact `iss`, keys discovered from
    /// its metadata), beside the development one or `--issuer`; repeatable. Its tokens are
    /// judged with its own keys; it is listed in the metadata after the main one.
    #[arg(
        long = "also-trust",
        env = "MCP_AUTH_ALSO_TRUST",
        value_delimiter = ',',
        value_name = "ISSUER"
    )]
    also_trust: Vec<String>,

    /// scopes_supported of the protected resource metadata, comma- or space-separated.
    #[arg(
        long,
        env = "MCP_AUTH_SCOPES",
        default_value = "mcp:read,mcp:write,mcp:admin"
    )]
    scopes: String,

    /// Address of the development authorization server (port 0: any free port).
    #[arg(long, env = "MCP_AUTH_DEV_AS_BIND", default_value_t = DEFAULT_DEV_AS_BIND, conflicts_with_all = ["issuer", "provider"])]
    dev_as_bind: SocketAddr,

    /// Development authorization server: approve every request without the consent page.
    #[arg(long, env = "MCP_AUTH_AUTO_APPROVE", conflicts_with_all = ["issuer", "provider"])]
    auto_approve: bool,

    /// Trust this identity provider's access tokens, through its preset (instead of
    /// starting the development authorization server). Its parameters: the flags below;
    /// docs/providers.md says which each provider takes.
    #[arg(long, env = "MCP_AUTH_PROVIDER", value_enum, conflicts_with_all = ["issuer", "jwks_uri"])]
    provider: Option<ProviderKind>,

    /// Entra ID: the tenant id (a GUID); repeatable for the multi-tenant presets.
    #[arg(
        long = "tenant",
        env = "MCP_AUTH_TENANTS",
        value_delimiter = ',',
        value_name = "TENANT_ID",
        requires = "provider"
    )]
    tenants: Vec<String>,

    /// Okta, Auth0: the domain; Clerk: the Frontend API host; WorkOS: the AuthKit domain;
    /// Keycloak: the server URL.
    #[arg(long, env = "MCP_AUTH_DOMAIN", requires = "provider")]
    domain: Option<String>,

    /// Okta: the custom authorization server id [default: the one named `default`, audience
    /// api://default].
    #[arg(long, env = "MCP_AUTH_SERVER_ID", requires = "provider")]
    server_id: Option<String>,

    /// Keycloak: the realm.
    #[arg(long, env = "MCP_AUTH_REALM", requires = "provider")]
    realm: Option<String>,

    /// Cognito: the AWS region (us-east-1).
    #[arg(long, env = "MCP_AUTH_REGION", requires = "provider")]
    region: Option<String>,

    /// Cognito: the user pool id (us-east-1_AbCdEfGhI).
    #[arg(long, env = "MCP_AUTH_USER_POOL", requires = "provider")]
    user_pool: Option<String>,

    /// Descope: the project id.
    #[arg(long, env = "MCP_AUTH_PROJECT", requires = "provider")]
    project: Option<String>,

    /// Descope: the MCP server id [default: the project's Inbound Apps].
    #[arg(long, env = "MCP_AUTH_MCP_SERVER_ID", requires = "provider")]
    mcp_server_id: Option<String>,

    /// An audience the provider's tokens carry besides the resource URI (Entra: the API's
    /// client id or App ID URI; Auth0: the API identifier; Okta, Keycloak); repeatable.
    #[arg(
        long = "audience",
        env = "MCP_AUTH_AUDIENCES",
        value_delimiter = ',',
        value_name = "AUD",
        requires = "provider"
    )]
    audiences: Vec<String>,

    /// Accept only tokens issued to this client (the MCP clients registered with the
    /// provider); repeatable. Required for Cognito.
    #[arg(
        long = "client-id",
        env = "MCP_AUTH_CLIENT_IDS",
        value_delimiter = ',',
        value_name = "CLIENT_ID",
        requires = "provider"
    )]
    client_ids: Vec<String>,

    /// Replaces the provider's URL in its issuer and key location (custom domains,
    /// sovereign clouds, loopback tests).
    #[arg(long, env = "MCP_AUTH_BASE_URL", requires = "provider")]
    base_url: Option<String>,

    /// List this URL in the metadata's authorization_servers instead of the provider's
    /// issuers.
    #[arg(long, env = "MCP_AUTH_AUTHORIZATION_SERVER", requires = "provider")]
    authorization_server: Option<String>,

    /// ROLE=SCOPES: grant this server's scopes (space- or comma-separated) to a provider
    /// role or group (Entra app roles, Keycloak realm roles, Okta and Cognito groups,
    /// Descope roles); repeatable.
    #[arg(long = "map-role", value_name = "ROLE=SCOPES", value_parser = parse_role_mapping, requires = "provider")]
    map_roles: Vec<(String, Vec<String>)>,

    /// Also allow browser pages from this origin (scheme://host[:port]); repeatable. The
    /// resource's own origin and loopback origins are always allowed; any other Origin gets
    /// 403 (DNS rebinding protection).
    #[arg(
        long = "allowed-origin",
        env = "MCP_AUTH_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    allowed_origins: Vec<String>,

    /// Serve GET /debug/counters: how many requests got through the auth layer (tests).
    #[arg(long, env = "MCP_AUTH_DEBUG_COUNTERS")]
    debug_counters: bool,
    #[command(flatten)]
    dpop: example_mcp_server::dpop::DpopArgs,

    /// Serve Prometheus metrics at http://ADDR/metrics (a loopback address; port 0: any free
    /// port). See docs/operations.md, "Metrics".
    #[arg(long, env = "MCP_AUTH_METRICS_BIND", value_name = "ADDR")]
    metrics_bind: Option<SocketAddr>,
    #[command(flatten)]
    token_mode: example_mcp_server::token_mode::TokenModeArgs,
    /// Serve MCP sessions (Mcp-Session-Id, rmcp's session manager), each bound to the user
    /// that opened it: another user's token with that session id gets 404.
    #[arg(long, env = "MCP_AUTH_STATEFUL")]
    stateful: bool,
    #[command(flatten)]
    fleet: example_mcp_server::fleet::FleetArgs,
}

/// `ROLE=SCOPE SCOPE` (or `ROLE=SCOPE,SCOPE`).
fn parse_role_mapping(s: &str) -> Result<(String, Vec<String>), String> {
    let (role, scopes) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not ROLE=SCOPES"))?;
    let scopes: Vec<String> = scopes
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if role.is_empty() || scopes.is_empty() {
        return Err(format!(
            "{s:?} is not ROLE=SCOPES (a role and at least one scope)"
        ));
    }
    Ok((role.to_owned(), scopes))
}

impl Args {
    fn provider_config(&self, kind: ProviderKind) -> ProviderConfig {
        let mut p = ProviderConfig::new(kind);
        p.tenants = self.tenants.clone();
        p.domain = self.domain.clone();
        p.server_id = self.server_id.clone();
        p.realm = self.realm.clone();
        p.region = self.region.clone();
        p.user_pool = self.user_pool.clone();
        p.project = self.project.clone();
        p.mcp_server_id = self.mcp_server_id.clone();
        p.audiences = self.audiences.clone();
        p.client_ids = self.client_ids.clone();
        p.base_url = self.base_url.clone();
        p.authorization_server = self.authorization_server.clone();
        p.map_roles = self.map_roles.clone();
        p
    }

    fn config(&self) -> Config {
        let authorization_server = match (&self.issuer, self.provider) {
            (_, Some(kind)) => AuthorizationServer::Provider(Box::new(self.provider_config(kind))),
            (Some(issuer), None) => AuthorizationServer::External(ExternalAs {
                issuer: issuer.clone(),
                jwks_uri: self.jwks_uri.clone(),
            }),
            (None, None) => AuthorizationServer::Dev(DevAsConfig {
                bind: self.dev_as_bind,
                auto_approve: self.auto_approve,
                token_format: self.token_mode.dev_token_format(),
                ..DevAsConfig::default()
            }),
        };
        Config {
            bind: self.bind,
            resource: self.resource.clone(),
            scopes_supported: self
                .scopes
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            authorization_server,
            also_trust: self
                .also_trust
                .iter()
                .map(|issuer| ExternalAs {
                    issuer: issuer.clone(),
                    jwks_uri: None,
                })
                .collect(),
            allowed_origins: self.allowed_origins.clone(),
            debug_counters: self.debug_counters,
            dpop: self.dpop.settings(),
            introspection: self.token_mode.introspection_config(),
            stateful: self.stateful,
            fleet: self.fleet.settings(),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(example_mcp_server::DEFAULT_LOG_FILTER)
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if let Some(bind) = args.metrics_bind
        && let Err(e) = example_mcp_server::metrics::serve(bind).await
    {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let server = match example_mcp_server::start(args.config()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", instructions(&server, args.auto_approve));

    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.shutdown();
    });
    server.wait().await;
    ExitCode::SUCCESS
}

/// What to do next, for a human.
fn instructions(server: &RunningServer, auto_approve: bool) -> String {
    let mcp = &server.mcp_url;
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;
    // `auth` is the Authorization header, already quoted for a POSIX shell.
    let curl = |auth: &str| {
        format!(
            "curl -sS {mcp} -H {auth} -H 'Content-Type: application/json' \
             -H 'Accept: application/json, text/event-stream' -d '{call}'"
        )
    };
    let mut out = String::from(
        "\nmcp-auth example: an MCP server (rmcp, Streamable HTTP) protected by McpAuthLayer\n\n",
    );
    out.push_str(&format!("  MCP endpoint:                 {mcp}\n"));
    out.push_str(&format!(
        "  Protected resource metadata:  {}\n",
        server.metadata_url
    ));
    out.extend(example_mcp_server::token_mode::instructions(server));
    if let Some(p) = &server.provider {
        out.push_str(&format!(
            "  Identity provider:            {} (--provider {})\n",
            p.kind.display_name(),
            p.kind
        ));
        for issuer in &p.issuers {
            out.push_str(&format!("  Trusted issuer:               {issuer}\n"));
        }
        let audiences = if p.audiences.is_empty() {
            mcp.clone()
        } else {
            format!("{mcp} or {}", p.audiences.join(" or "))
        };
        out.push_str(&format!(
            "\nGet an access token from {} whose aud is {audiences}, with scope {} \
             (mcp:write to add notes; docs/providers.md says how to register the API and the \
             client), then:\n\n  {}\n",
            p.kind.display_name(),
            policy::SCOPE_READ,
            curl("\"Authorization: Bearer $TOKEN\""),
        ));
        return out;
    }
    let Some(dev) = server.dev_authorization_server() else {
        out.push_str(&format!(
            "  Authorization server:         {} (external)\n\n\
             Get an access token from it for resource {mcp} with scope {} \
             (mcp:write to add notes), then:\n\n  {}\n",
            server.as_issuer,
            policy::SCOPE_READ,
            curl("\"Authorization: Bearer $TOKEN\""),
        ));
        return out;
    };
    out.push_str(&format!(
        "  Authorization server:         {}  (development only: in memory, {})\n",
        server.as_issuer,
        if auto_approve {
            "approves every request"
        } else {
            "consent page, no passwords"
        }
    ));
    out.push_str(&format!(
        "    its metadata:               {}\n\n",
        dev.metadata_url()
    ));

    let scope = format!("{} {}", policy::SCOPE_READ, policy::SCOPE_WRITE);
    if let Some(token) = server.mint_token(&scope) {
        out.push_str(&format!(
            "1. Call a tool with curl (token minted just now: sub {DEV_SUBJECT}, scope \"{scope}\", valid 1 h):\n\n  {}\n\n   \
             Without the Authorization header: 401 with a WWW-Authenticate challenge naming the metadata.\n\n",
            curl(&format!("'Authorization: Bearer {token}'")),
        ));
    }
    if let Some((id, secret)) = server.demo_client() {
        out.push_str(&format!(
            "2. Get a token from the authorization server yourself (client credentials; try scope=mcp:admin):\n\n  \
             curl -sS -u {id}:{secret} -d grant_type=client_credentials --data-urlencode 'resource={mcp}' \
             --data-urlencode 'scope={scope}' {}/token\n\n",
            server.as_issuer,
        ));
    }
    out.push_str(&format!(
        "3. Connect MCP Inspector, which runs the whole OAuth flow (discovery, registration, PKCE, consent):\n\n  \
         npx @modelcontextprotocol/inspector\n\n   \
         In its UI: Transport Type \"Streamable HTTP\", URL {mcp}, Connect{}.\n\n\
         Press Ctrl-C to stop.",
        if auto_approve {
            ""
        } else {
            ", then approve on the consent page"
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const TENANT_2: &str = "b9c1f6a2-3d4e-4f50-8a61-7c8d9e0f1a2b";
    const API: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("example-mcp-server").chain(args.iter().copied()))
    }

    fn provider(args: &[&str]) -> ProviderConfig {
        match parse(args).expect("parses").config().authorization_server {
            AuthorizationServer::Provider(p) => *p,
            other => panic!("not a provider: {other:?}"),
        }
    }

    /// Every provider, with its parameters, parses into its preset and the issuer it trusts.
    #[test]
    fn every_provider_parses_into_its_preset() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--provider", "entra-v1", "--tenant", TENANT],
                "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
            ),
            (
                &[
                    "--provider",
                    "entra-v2",
                    "--tenant",
                    TENANT,
                    "--audience",
                    API,
                ],
                "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            ),
            (
                &[
                    "--provider",
                    "entra-multi-tenant-v1",
                    "--tenant",
                    TENANT,
                    "--tenant",
                    TENANT_2,
                ],
                "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
            ),
            (
                &[
                    "--provider",
                    "entra-multi-tenant-v2",
                    "--tenant",
                    &format!("{TENANT},{TENANT_2}"),
                    "--audience",
                    API,
                ],
                "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            ),
            (
                &["--provider", "okta", "--domain", "example.okta.com"],
                "https://example.okta.com/oauth2/default",
            ),
            (
                &[
                    "--provider",
                    "okta",
                    "--domain",
                    "example.okta.com",
                    "--server-id",
                    "aus8xq2r7kZQ4vT1p5d7",
                    "--audience",
                    "https://mcp.example.com/mcp",
                ],
                "https://example.okta.com/oauth2/aus8xq2r7kZQ4vT1p5d7",
            ),
            (
                &[
                    "--provider",
                    "auth0",
                    "--domain",
                    "example.us.auth0.com",
                    "--audience",
                    "https://mcp.example.com/mcp",
                ],
                "https://example.us.auth0.com/",
            ),
            (
                &[
                    "--provider",
                    "keycloak",
                    "--domain",
                    "https://sso.example.com",
                    "--realm",
                    "acme",
                    "--map-role",
                    "mcp-user=mcp:read",
                ],
                "https://sso.example.com/realms/acme",
            ),
            (
                &[
                    "--provider",
                    "cognito",
                    "--region",
                    "us-east-1",
                    "--user-pool",
                    "us-east-1_AbCdEfGhI",
                    "--client-id",
                    "7m1234abcdefghijklmnopqrst",
                ],
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI",
            ),
            (
                &[
                    "--provider",
                    "clerk",
                    "--domain",
                    "verb-noun-42.clerk.accounts.dev",
                ],
                "https://verb-noun-42.clerk.accounts.dev",
            ),
            (
                &["--provider", "workos", "--domain", "acme.authkit.app"],
                "https://acme.authkit.app",
            ),
            (
                &[
                    "--provider",
                    "descope",
                    "--project",
                    "P2abcdefghijklmnopqrstuvwxyz",
                    "--mcp-server-id",
                    "MS2abcdefghijklmnopqrstuv",
                ],
                "https://api.descope.com/v1/apps/agentic/P2abcdefghijklmnopqrstuvwxyz/MS2abcdefghijklmnopqrstuv",
            ),
        ];
        let mut seen = Vec::new();
        for (args, issuer) in cases {
            let p = provider(args);
            seen.push(p.kind);
            let trusted = p
                .trusted_issuer()
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(trusted.issuers()[0], *issuer, "{args:?}");
        }
        for kind in <ProviderKind as clap::ValueEnum>::value_variants() {
            assert!(seen.contains(kind), "{kind} is not tested");
        }
    }

    #[test]
    fn provider_parameters_reach_the_config() {
        let okta = provider(&["--provider", "okta", "--domain", "example.okta.com"]);
        assert_eq!(okta.audiences(), ["api://default"]);
        let p = provider(&[
            "--provider",
            "entra-multi-tenant-v2",
            "--tenant",
            TENANT,
            "--tenant",
            TENANT_2,
            "--audience",
            API,
            "--audience",
            "api://mcp-notes",
            "--client-id",
            "a,b",
            "--base-url",
            "http://127.0.0.1:9",
            "--authorization-server",
            "https://login.example.com",
            "--map-role",
            "Notes.Admin=mcp:admin mcp:write",
        ]);
        assert_eq!(p.tenants, [TENANT, TENANT_2]);
        assert_eq!(p.audiences, [API, "api://mcp-notes"]);
        assert_eq!(p.client_ids, ["a", "b"]);
        assert_eq!(p.base_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(
            p.authorization_server.as_deref(),
            Some("https://login.example.com")
        );
        assert_eq!(
            p.map_roles,
            [(
                "Notes.Admin".to_owned(),
                vec!["mcp:admin".to_owned(), "mcp:write".to_owned()]
            )]
        );
        let issuers = p.trusted_issuer().expect("configured").issuers().to_vec();
        assert_eq!(
            issuers,
            [
                format!("http://127.0.0.1:9/{TENANT}/v2.0"),
                format!("http://127.0.0.1:9/{TENANT_2}/v2.0")
            ]
        );
    }

    #[test]
    fn a_provider_without_a_required_parameter_names_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--provider", "entra-v2", "--tenant", TENANT],
                "--audience",
            ),
            (&["--provider", "entra-v1"], "--tenant"),
            (&["--provider", "okta"], "--domain"),
            (
                &["--provider", "auth0", "--domain", "x.auth0.com"],
                "--audience",
            ),
            (
                &["--provider", "keycloak", "--domain", "sso.example.com"],
                "--realm",
            ),
            (
                &[
                    "--provider",
                    "cognito",
                    "--region",
                    "us-east-1",
                    "--user-pool",
                    "us-east-1_A",
                ],
                "--client-id",
            ),
            (&["--provider", "cognito", "--client-id", "c"], "--region"),
            (&["--provider", "clerk"], "--domain"),
            (&["--provider", "workos"], "--domain"),
            (&["--provider", "descope"], "--project"),
        ];
        for (args, flag) in cases {
            let e = provider(args).trusted_issuer().expect_err("incomplete");
            let msg = e.to_string();
            assert!(msg.contains(&format!("needs {flag}")), "{args:?}: {msg}");
        }
        // And one a provider does not take.
        let e = provider(&[
            "--provider",
            "workos",
            "--domain",
            "a.authkit.app",
            "--tenant",
            TENANT,
        ])
        .trusted_issuer()
        .expect_err("not applicable");
        assert_eq!(
            e.to_string(),
            "--tenant does not apply to --provider workos (see docs/providers.md)"
        );
    }

    #[test]
    fn provider_conflicts_with_the_development_server_and_issuer_flags() {
        for other in [
            &["--issuer", "https://auth.example.com"][..],
            &["--auto-approve"],
            &["--dev-as-bind", "127.0.0.1:0"],
        ] {
            let mut args = vec!["--provider", "okta", "--domain", "example.okta.com"];
            args.extend_from_slice(other);
            let e = parse(&args).expect_err("conflict");
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{other:?}"
            );
        }
        // Provider parameters without --provider are a clap error naming --provider.
        let e = parse(&["--tenant", TENANT]).expect_err("requires --provider");
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(e.to_string().contains("--provider"), "{e}");
        let e = parse(&["--provider", "entra-v3"]).expect_err("unknown provider");
        assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue);
        let e = parse(&["--provider", "keycloak", "--map-role", "no-scopes"]).expect_err("bad");
        assert!(e.to_string().contains("ROLE=SCOPES"), "{e}");
    }

    /// The printed instructions name the provider and every issuer trusted.
    #[tokio::test]
    async fn instructions_name_the_provider_and_its_issuers() {
        let args = parse(&[
            "--bind",
            "127.0.0.1:0",
            "--provider",
            "entra-multi-tenant-v2",
            "--tenant",
            TENANT,
            "--tenant",
            TENANT_2,
            "--audience",
            API,
            // Nothing listens there: the keys are not loaded, the server starts anyway.
            "--base-url",
            "http://127.0.0.1:9",
        ])
        .expect("parses");
        let server = example_mcp_server::start(args.config())
            .await
            .expect("starts");
        let text = instructions(&server, false);
        assert!(
            text.contains(
                "Microsoft Entra ID, multi-tenant (v2.0 tokens) (--provider entra-multi-tenant-v2)"
            ),
            "{text}"
        );
        for t in [TENANT, TENANT_2] {
            assert!(
                text.contains(&format!(
                    "Trusted issuer:               http://127.0.0.1:9/{t}/v2.0"
                )),
                "{text}"
            );
        }
        assert!(
            text.contains(&format!("whose aud is {} or {API}", server.mcp_url)),
            "{text}"
        );
        assert!(!text.contains("development only"), "{text}");
        server.shutdown().await;
    }

    #[test]
    fn allowed_origin_is_repeatable() {
        let args = Args::try_parse_from([
            "example-mcp-server",
            "--allowed-origin",
            "https://a.example",
            "--allowed-origin",
            "https://b.example:8443",
        ])
        .unwrap();
        assert_eq!(
            args.config().allowed_origins,
            ["https://a.example", "https://b.example:8443"]
        );
        assert!(!args.config().debug_counters);
        assert!(args.config().also_trust.is_empty());
    }

    #[test]
    fn metrics_bind_is_off_unless_given() {
        assert_eq!(parse(&[]).unwrap().metrics_bind, None);
        let args = parse(&["--metrics-bind", "127.0.0.1:9464"]).unwrap();
        assert_eq!(args.metrics_bind, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(parse(&["--metrics-bind", "localhost"]).is_err());
    }

    #[test]
    fn also_trust_keeps_the_development_server_and_adds_issuers() {
        let args = Args::try_parse_from([
            "example-mcp-server",
            "--also-trust",
            "http://127.0.0.1:9000",
            "--also-trust",
            "https://login.example.com/v2.0",
        ])
        .unwrap();
        let config = args.config();
        assert!(matches!(
            config.authorization_server,
            AuthorizationServer::Dev(_)
        ));
        let issuers: Vec<_> = config.also_trust.iter().map(|e| &e.issuer).collect();
        assert_eq!(
            issuers,
            ["http://127.0.0.1:9000", "https://login.example.com/v2.0"]
        );
    }
}
