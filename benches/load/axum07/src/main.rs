//! The axum-0.7 flavours of the load benchmark: jwt-authorizer 0.15 still needs axum 0.7, so
//! it gets its own no-auth baseline on the same axum.
//!
//! `server-axum07 --flavour noauth07|jwt-authorizer --port <P> --issuer <ISS>` serves
//! `GET|POST /mcp -> 200 "ok"` on `127.0.0.1:<P>`.
//!
//! jwt-authorizer: `JwtAuthorizer::from_oidc(<ISS>)` (OIDC discovery, JWKS loaded on first
//! use, default refresh strategy `KeyNotFound`), `iss` and `aud` checked. It has no scope
//! check. Its crypto is jsonwebtoken 9, whose only backend is ring.

use axum::Router;
use axum::routing::get;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, RegisteredClaims, Validation};

const RESOURCE: &str = "https://mcp.example.com/mcp";

async fn ok() -> &'static str {
    "ok"
}

fn app() -> Router {
    Router::new().route("/mcp", get(ok).post(ok))
}

#[tokio::main]
async fn main() {
    let mut flavour = String::new();
    let mut port: u16 = 18080;
    let mut issuer = String::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--flavour" => flavour = val,
            "--port" => port = val.parse().expect("--port N"),
            "--issuer" => issuer = val,
            other => panic!("unknown flag {other}"),
        }
    }
    let router = match flavour.as_str() {
        "noauth07" => app(),
        "jwt-authorizer" => {
            let auth: Authorizer<RegisteredClaims> = JwtAuthorizer::from_oidc(&issuer)
                .validation(Validation::new().iss(&[&issuer]).aud(&[RESOURCE]))
                .build()
                .await
                .expect("jwt-authorizer");
            app().route_layer(vec![auth].into_layer())
        }
        other => panic!("unknown flavour {other}"),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    eprintln!("server-axum07 {flavour} listening on 127.0.0.1:{port}");
    axum::serve(listener, router).await.expect("serve");
}
