//! The agent's `/metrics`: every node's exposition merged into one, each sample labelled
//! `node="<name>"`, plus the agent's own `sutra_grid_agent_*` series.
//!
//! The text format wants all samples of a family together under one HELP and TYPE, so the
//! merge groups samples by family (in order of first appearance) instead of concatenating.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sutra_core::crd::NodePhase;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::error::{AgentError, AgentResult};
use crate::backend::{Backend, NodeStatus, probe};

/// Content type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Default)]
struct Family {
    name: String,
    help: Option<String>,
    kind: Option<String>,
    samples: Vec<String>,
}

/// Merges `(node, exposition)` pairs into one exposition with a `node` label on every
/// sample and each family's HELP and TYPE once.
pub fn merge_node_metrics(nodes: &[(String, String)]) -> String {
    let mut families: Vec<Family> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (node, text) in nodes {
        let mut current: Option<String> = None;
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
            if let Some((keyword, name, rest)) = descriptor(line) {
                let at = family_index(&mut families, &mut index, name);
                let family = &mut families[at];
                let slot = if keyword == "HELP" {
                    &mut family.help
                } else {
                    &mut family.kind
                };
                slot.get_or_insert_with(|| rest.to_owned());
                current = Some(name.to_owned());
            } else if !line.starts_with('#') {
                let sample_name = metric_name(line);
                let name = match &current {
                    Some(family) if sample_name.starts_with(family.as_str()) => family.clone(),
                    _ => sample_name.to_owned(),
                };
                let family = family_index(&mut families, &mut index, &name);
                families[family].samples.push(with_node_label(line, node));
            }
        }
    }
    let mut out = String::new();
    for family in families {
        if let Some(help) = family.help {
            let _ = writeln!(out, "# HELP {} {help}", family.name);
        }
        if let Some(kind) = family.kind {
            let _ = writeln!(out, "# TYPE {} {kind}", family.name);
        }
        for sample in family.samples {
            out.push_str(&sample);
            out.push('\n');
        }
    }
    out
}

/// The position of family `name`, appending it when new.
fn family_index(
    families: &mut Vec<Family>,
    index: &mut HashMap<String, usize>,
    name: &str,
) -> usize {
    *index.entry(name.to_owned()).or_insert_with(|| {
        families.push(Family {
            name: name.to_owned(),
            ..Family::default()
        });
        families.len() - 1
    })
}

/// `# HELP name text` or `# TYPE name kind` as (keyword, name, rest).
fn descriptor(line: &str) -> Option<(&str, &str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let (keyword, rest) = rest.split_once(char::is_whitespace)?;
    if keyword != "HELP" && keyword != "TYPE" {
        return None;
    }
    let rest = rest.trim_start();
    let (name, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    Some((keyword, name, text.trim_start()))
}

fn metric_name(sample: &str) -> &str {
    let end = sample
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(sample.len());
    &sample[..end]
}

/// The sample with `node="<node>"` as its first label.
pub fn with_node_label(sample: &str, node: &str) -> String {
    let name = metric_name(sample);
    let rest = &sample[name.len()..];
    let label = format!("node=\"{}\"", escape_label_value(node));
    match rest.strip_prefix('{') {
        Some(labels) if labels.trim_start().starts_with('}') => {
            format!("{name}{{{label}{}", labels.trim_start())
        }
        Some(labels) => format!("{name}{{{label},{labels}"),
        None => format!("{name}{{{label}}}{rest}"),
    }
}

fn escape_label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The agent's own series: nodes per phase and restarts per node.
pub fn agent_metrics(nodes: &[NodeStatus]) -> String {
    let mut out = String::from(
        "# HELP sutra_grid_agent_nodes Storage nodes of the local grid, by phase.\n# TYPE sutra_grid_agent_nodes gauge\n",
    );
    for phase in [
        NodePhase::Pending,
        NodePhase::Scheduled,
        NodePhase::Running,
        NodePhase::Ready,
        NodePhase::Failed,
    ] {
        let count = nodes.iter().filter(|node| node.phase == phase).count();
        let _ = writeln!(out, "sutra_grid_agent_nodes{{phase=\"{phase:?}\"}} {count}");
    }
    out.push_str(
        "# HELP sutra_grid_agent_restarts_total Restarts of each storage node after it exited.\n# TYPE sutra_grid_agent_restarts_total counter\n",
    );
    for node in nodes {
        let _ = writeln!(
            out,
            "sutra_grid_agent_restarts_total{{node=\"{}\"}} {}",
            escape_label_value(&node.name),
            node.restarts
        );
    }
    out.push_str(
        "# HELP sutra_grid_agent_last_terminated_reason Why each storage node's last run ended (OOMKilled, Error, Completed).\n# TYPE sutra_grid_agent_last_terminated_reason gauge\n",
    );
    for node in nodes {
        if let Some(last) = &node.last_termination {
            let _ = writeln!(
                out,
                "sutra_grid_agent_last_terminated_reason{{node=\"{}\",reason=\"{}\"}} 1",
                escape_label_value(&node.name),
                last.reason
            );
        }
    }
    out
}

/// Scrapes every live node and renders the whole exposition; a node that cannot be
/// scraped is left out (its phase shows in `sutra_grid_agent_nodes`).
pub async fn render<B: Backend>(backend: &B) -> String {
    let nodes = backend.list().await.unwrap_or_default();
    let scrapes = futures::future::join_all(nodes.iter().filter(|node| node.pid.is_some()).map(
        |node| async {
            (
                node.name.clone(),
                probe::scrape_metrics(node.metrics_addr).await,
            )
        },
    ))
    .await;
    let scraped: Vec<(String, String)> = scrapes
        .into_iter()
        .filter_map(|(name, result)| result.ok().map(|text| (name, text)))
        .collect();
    let mut out = agent_metrics(&nodes);
    out.push_str(&merge_node_metrics(&scraped));
    out
}

/// Binds the metrics address and serves `/metrics` (and `/healthz`) on it until the
/// returned task is aborted. Called before any node starts, so a taken port fails early.
pub async fn start_server<B: Backend + 'static>(
    addr: SocketAddr,
    backend: Arc<B>,
) -> AgentResult<JoinHandle<std::io::Result<()>>> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::MetricsAddr { addr, source })?;
    let router = Router::new()
        .route("/metrics", get(metrics_handler::<B>))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(backend);
    Ok(tokio::spawn(
        async move { axum::serve(listener, router).await },
    ))
}

async fn metrics_handler<B: Backend + 'static>(State(backend): State<Arc<B>>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, TEXT_FORMAT)],
        render(&*backend).await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE_TEXT: &str = "\
# HELP sutra_storage_vectors Vectors stored.
# TYPE sutra_storage_vectors gauge
sutra_storage_vectors 12
# HELP sutra_storage_search_seconds Search latency.
# TYPE sutra_storage_search_seconds histogram
sutra_storage_search_seconds_bucket{le=\"0.001\"} 3
sutra_storage_search_seconds_bucket{le=\"+Inf\"} 4
sutra_storage_search_seconds_sum 0.01
sutra_storage_search_seconds_count 4
";

    #[test]
    fn labels_every_sample_and_groups_families() {
        let merged = merge_node_metrics(&[
            ("local-0".to_owned(), NODE_TEXT.to_owned()),
            ("local-1".to_owned(), NODE_TEXT.replace(" 12", " 7")),
        ]);
        let expected = "\
# HELP sutra_storage_vectors Vectors stored.
# TYPE sutra_storage_vectors gauge
sutra_storage_vectors{node=\"local-0\"} 12
sutra_storage_vectors{node=\"local-1\"} 7
# HELP sutra_storage_search_seconds Search latency.
# TYPE sutra_storage_search_seconds histogram
sutra_storage_search_seconds_bucket{node=\"local-0\",le=\"0.001\"} 3
sutra_storage_search_seconds_bucket{node=\"local-0\",le=\"+Inf\"} 4
sutra_storage_search_seconds_sum{node=\"local-0\"} 0.01
sutra_storage_search_seconds_count{node=\"local-0\"} 4
sutra_storage_search_seconds_bucket{node=\"local-1\",le=\"0.001\"} 3
sutra_storage_search_seconds_bucket{node=\"local-1\",le=\"+Inf\"} 4
sutra_storage_search_seconds_sum{node=\"local-1\"} 0.01
sutra_storage_search_seconds_count{node=\"local-1\"} 4
";
        assert_eq!(merged, expected);
    }

    #[test]
    fn label_goes_into_empty_braces_and_keeps_timestamps() {
        assert_eq!(with_node_label("up{} 1", "n"), "up{node=\"n\"} 1");
        assert_eq!(
            with_node_label("up 1 1700000000", "n"),
            "up{node=\"n\"} 1 1700000000"
        );
    }

    #[test]
    fn samples_without_descriptors_form_their_own_family() {
        let merged = merge_node_metrics(&[("a".to_owned(), "# a comment\nfoo 1\n".to_owned())]);
        assert_eq!(merged, "foo{node=\"a\"} 1\n");
    }

    fn node(name: &str, phase: NodePhase, restarts: u32) -> NodeStatus {
        NodeStatus {
            name: name.to_owned(),
            variant: "universal".to_owned(),
            phase,
            ready: phase == NodePhase::Ready,
            platform: None,
            started_at: None,
            restarts,
            grpc_addr: "127.0.0.1:1".parse().unwrap(),
            metrics_addr: "127.0.0.1:2".parse().unwrap(),
            pid: None,
            last_termination: None,
        }
    }

    #[test]
    fn agent_series_count_phases_and_restarts() {
        let node = node("local-0", NodePhase::Ready, 2);
        let text = agent_metrics(&[node]);
        assert!(
            text.contains("sutra_grid_agent_nodes{phase=\"Ready\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("sutra_grid_agent_nodes{phase=\"Failed\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("sutra_grid_agent_restarts_total{node=\"local-0\"} 2\n"),
            "{text}"
        );
        assert!(
            !text.contains("sutra_grid_agent_last_terminated_reason{"),
            "{text}"
        );
    }

    #[test]
    fn the_last_termination_reason_is_a_labelled_series() {
        let node = NodeStatus {
            last_termination: Some(crate::backend::Termination {
                reason: crate::backend::TerminationReason::OomKilled,
                message: String::new(),
                exit_code: Some(137),
                finished_at: chrono::Utc::now(),
            }),
            ..node("local-1", NodePhase::Failed, 3)
        };
        let text = agent_metrics(&[node]);
        assert!(
            text.contains(
                "sutra_grid_agent_last_terminated_reason{node=\"local-1\",reason=\"OOMKilled\"} 1\n"
            ),
            "{text}"
        );
    }
}
