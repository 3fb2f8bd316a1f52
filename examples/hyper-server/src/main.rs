//! `example-hyper-server`: the MCP endpoint of the library part on plain hyper.
//!
//! Configuration from the environment:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `MCP_ADDR` | address to listen on | `127.0.0.1:8080` |
//! | `MCP_RESOURCE` | public URL of the endpoint (what tokens must name in `aud`) | `http://127.0.0.1:8080/mcp` |
//! | `MCP_ISSUER` | the authorization server whose tokens are accepted | required |
//! | `MCP_JWKS_FILE` | a file with that server's JWKS document (RFC 7517) | required |

use example_hyper_server::{auth_layer, serve};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("example-hyper-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let addr = var("MCP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let resource = var("MCP_RESOURCE").unwrap_or_else(|_| format!("http://{addr}/mcp"));
    let issuer = var("MCP_ISSUER")?;
    let jwks_file = var("MCP_JWKS_FILE")?;
    let jwks = std::fs::read(&jwks_file).map_err(|e| format!("{jwks_file}: {e}"))?;
    let auth = auth_layer(&resource, &issuer, &jwks)?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "MCP endpoint {resource}, metadata at {}",
        auth.resource().metadata_url()
    );
    serve(listener, auth).await?;
    Ok(())
}
