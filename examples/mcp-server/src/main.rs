//! `cargo run -p example-mcp-server`: the MCP server and a development authorization server on
//! loopback, and what to do next. `--issuer` runs it against another authorization server.

use clap::Parser;
use example_mcp_server::{
    AuthorizationServer, Config, DEFAULT_BIND, DEFAULT_DEV_AS_BIND, DEV_SUBJECT, DevAsConfig,
    ExternalAs, RunningServer, policy,
};
use std::net::SocketAddr;
use std::process::ExitCode;

/// An MCP server (rmcp, Streamable HTTP) protected by mcp-auth. Without --issuer it also
/// starts a development authorization server (never for production).
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
    #[arg(long, env = "MCP_AUTH_DEV_AS_BIND", default_value_t = DEFAULT_DEV_AS_BIND, conflicts_with = "issuer")]
    dev_as_bind: SocketAddr,

    /// Development authorization server: approve every request without the consent page.
    #[arg(long, env = "MCP_AUTH_AUTO_APPROVE", conflicts_with = "issuer")]
    auto_approve: bool,

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
}

impl Args {
    fn config(&self) -> Config {
        let authorization_server = match &self.issuer {
            Some(issuer) => AuthorizationServer::External(ExternalAs {
                issuer: issuer.clone(),
                jwks_uri: self.jwks_uri.clone(),
            }),
            None => AuthorizationServer::Dev(DevAsConfig {
                bind: self.dev_as_bind,
                auto_approve: self.auto_approve,
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
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,example_mcp_server=info,mcp_auth=info")
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
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
