//! `--metrics-bind ADDR`: the layer's metrics (and the key source's) in the Prometheus text
//! format at `http://ADDR/metrics`, on a listener of its own, loopback only.
//!
//! The recorder is `metrics-exporter-prometheus`'s, installed process-wide: the layer records
//! through the `metrics` facade whatever serves the page. The metric names, their labels and
//! suggested alerts are in docs/operations.md, "Metrics". The listener refuses anything but a
//! loopback address: the page tells how many requests were refused and why, which is for the
//! operator's scraper (on the host, or through a proxy the operator configures), not for the
//! network.

use axum::Router;
use axum::routing::get;
use mcp_auth::metrics::DECISION_DURATION;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::time::Duration;

/// Buckets of [`DECISION_DURATION`], in seconds: a decision in memory takes microseconds, one
/// after a key fetch or an introspection up to the fetch timeout.
pub const DECISION_BUCKETS: [f64; 12] = [
    0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 2.0,
];

/// How often the recorder's histograms are drained (the exporter's upkeep).
const UPKEEP: Duration = Duration::from_secs(5);

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// `--metrics-bind` is not a loopback address.
    #[error("--metrics-bind {0}: not a loopback address (metrics are served on loopback only)")]
    NotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("--metrics-bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The recorder could not be installed (one is installed already).
    #[error("metrics recorder: {0}")]
    Recorder(#[from] BuildError),
}

/// The running metrics endpoint.
#[derive(Debug)]
pub struct MetricsEndpoint {
    /// The address it listens on (the bound port when `--metrics-bind` named port 0).
    pub local_addr: SocketAddr,
    /// `http://<local_addr>/metrics`.
    pub url: String,
    /// The installed recorder's handle (renders the page).
    pub handle: PrometheusHandle,
}

/// Binds `bind` (loopback only), installs the Prometheus recorder process-wide and serves
/// `GET /metrics` on a task of the current runtime. Call it before the server starts, once
/// per process.
///
/// # Errors
///
/// [`MetricsError`]: not loopback, the bind failed, or a recorder is already installed.
pub async fn serve(bind: SocketAddr) -> Result<MetricsEndpoint, MetricsError> {
    if !bind.ip().is_loopback() {
        return Err(MetricsError::NotLoopback(bind));
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| MetricsError::Bind { addr: bind, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| MetricsError::Bind { addr: bind, source })?;
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DECISION_DURATION.to_owned()),
            &DECISION_BUCKETS,
        )?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let page = handle.clone();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let page = page.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    page.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    });
    tracing::info!(%local_addr, "metrics at http://{local_addr}/metrics");
    Ok(MetricsEndpoint {
        local_addr,
        url: format!("http://{local_addr}/metrics"),
        handle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_non_loopback_address_is_refused_before_anything_is_installed() {
        let addr: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert!(matches!(
            serve(addr).await,
            Err(MetricsError::NotLoopback(a)) if a == addr
        ));
    }
}
