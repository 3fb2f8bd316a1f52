//! `--metrics-bind`: the Prometheus page, scraped after a scripted few accepted and refused
//! calls, holds exactly those decisions (issue 18, section 3). One test in this binary: the
//! recorder is process-wide.

mod common;

use common::{bounded, http, initialize, mcp_post};
use mcp_auth::metrics::DECISIONS;
use reqwest::StatusCode;
use std::collections::BTreeMap;

/// The `mcp_auth_decisions_total` samples of a Prometheus text page, by their label text.
fn decisions(page: &str) -> BTreeMap<String, u64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(DECISIONS))
        .map(|rest| {
            let (labels, value) = rest.rsplit_once(' ').expect("sample");
            (labels.to_owned(), value.parse().expect("count"))
        })
        // Every reason's series exists from the layer's first decision on, at 0 until used.
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test]
async fn the_metrics_page_counts_each_decision_of_a_scripted_sequence() {
    bounded(async {
        let metrics = example_mcp_server::metrics::serve("127.0.0.1:0".parse().unwrap())
            .await
            .expect("metrics endpoint");
        assert!(metrics.local_addr.ip().is_loopback());
        let server = common::start().await;
        let http = http();
        let url = &server.mcp_url;
        let good = server.mint_token("mcp:read").unwrap();
        let (head, sig) = good.rsplit_once('.').unwrap();
        let forged = format!(
            "{head}.{}{}",
            if sig.starts_with('A') { "B" } else { "A" },
            &sig[1..]
        );
        let no_scope = server.mint_token("profile").unwrap();

        for _ in 0..2 {
            assert_eq!(
                mcp_post(&http, url, Some(&good), &initialize(1))
                    .await
                    .status,
                StatusCode::OK
            );
        }
        let missing = mcp_post(&http, url, None, &initialize(2)).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        let bad = mcp_post(&http, url, Some(&forged), &initialize(3)).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        let step_up = mcp_post(&http, url, Some(&no_scope), &initialize(4)).await;
        assert_eq!(step_up.status, StatusCode::FORBIDDEN);

        let resp = http.get(&metrics.url).send().await.expect("scrape");
        assert_eq!(resp.status(), StatusCode::OK);
        let page = resp.text().await.unwrap();
        assert_eq!(
            decisions(&page),
            BTreeMap::from([
                (r#"{outcome="allowed",reason="none"}"#.to_owned(), 2),
                (
                    r#"{outcome="refused",reason="missing_credentials"}"#.to_owned(),
                    1
                ),
                (
                    r#"{outcome="refused",reason="invalid_token"}"#.to_owned(),
                    1
                ),
                (
                    r#"{outcome="refused",reason="insufficient_scope"}"#.to_owned(),
                    1
                ),
            ]),
            "{page}"
        );
        // The decisions in memory (all five here: the example's layer has no MCP policy, so
        // it reads no body) are timed one in 16 per thread: the histogram is there, with at
        // most five samples.
        let timed: u64 = page
            .lines()
            .filter(|l| l.starts_with("mcp_auth_decision_duration_seconds_count"))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum();
        assert!(timed <= 5, "{page}");
        assert!(
            page.contains("# TYPE mcp_auth_decision_duration_seconds histogram"),
            "{page}"
        );
        // No label names the subject, the client or a token.
        for secret in [
            example_mcp_server::DEV_SUBJECT,
            example_mcp_server::DEMO_MINT_CLIENT_ID,
            &good,
            sig,
        ] {
            assert!(!page.contains(secret), "the page names {secret:?}");
        }
        server.shutdown().await;
    })
    .await;
}
