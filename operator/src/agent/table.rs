//! `agent status` output: the columns of `kubectl get storagenodes` (name, node, variant,
//! platform, phase, ready, age) plus restarts (with the last exit, as kubectl shows a Pod's)
//! and the gRPC address.

use chrono::{DateTime, Utc};

use crate::backend::NodeStatus;

/// The status table, one row per node, columns padded to their widest cell.
pub fn render_table(host: &str, nodes: &[NodeStatus], now: DateTime<Utc>) -> String {
    let header = [
        "NAME", "NODE", "VARIANT", "PLATFORM", "PHASE", "READY", "AGE", "RESTARTS", "GRPC",
    ];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for node in nodes {
        rows.push(vec![
            node.name.clone(),
            host.to_owned(),
            node.variant.clone(),
            node.platform.as_ref().map_or_else(
                || "<unknown>".to_owned(),
                |platform| platform.summary.clone(),
            ),
            format!("{:?}", node.phase),
            if node.ready { "True" } else { "False" }.to_owned(),
            node.started_at
                .map_or_else(|| "-".to_owned(), |started| age(now - started)),
            restarts(node, now),
            node.grpc_addr.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("{}\n", cells.join("   ").trim_end())
        })
        .collect()
}

/// Restarts as kubectl prints them for a Pod, with how the last run ended and when:
/// `3 (OOMKilled 12s ago)`.
fn restarts(node: &NodeStatus, now: DateTime<Utc>) -> String {
    match &node.last_termination {
        Some(last) => format!(
            "{} ({} {} ago)",
            node.restarts,
            last.reason,
            age(now - last.finished_at)
        ),
        None => node.restarts.to_string(),
    }
}

/// Age as kubectl prints it: `42s`, `5m`, `3h`, `2d`.
pub fn age(elapsed: chrono::Duration) -> String {
    let seconds = elapsed.num_seconds().max(0);
    match seconds {
        0..120 => format!("{seconds}s"),
        120..7200 => format!("{}m", seconds / 60),
        7200..172_800 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use sutra_core::crd::NodePhase;

    use super::*;
    use crate::backend::{Termination, TerminationReason};

    #[test]
    fn ages_like_kubectl() {
        let s = chrono::Duration::seconds;
        assert_eq!(age(s(42)), "42s");
        assert_eq!(age(s(300)), "5m");
        assert_eq!(age(s(3 * 3600)), "3h");
        assert_eq!(age(s(2 * 86_400)), "2d");
    }

    #[test]
    fn renders_aligned_columns() {
        let now = Utc::now();
        let node = NodeStatus {
            name: "local-0".to_owned(),
            variant: "universal".to_owned(),
            phase: NodePhase::Running,
            ready: false,
            platform: None,
            started_at: Some(now - chrono::Duration::seconds(5)),
            restarts: 1,
            grpc_addr: "127.0.0.1:50051".parse().unwrap(),
            metrics_addr: "127.0.0.1:9090".parse().unwrap(),
            pid: Some(3),
            last_termination: None,
        };
        let table = render_table("box", std::slice::from_ref(&node), now);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME      NODE   VARIANT     PLATFORM    PHASE     READY   AGE   RESTARTS   GRPC",
                "local-0   box    universal   <unknown>   Running   False   5s    1          127.0.0.1:50051",
            ]
        );

        let oom_killed = NodeStatus {
            last_termination: Some(Termination {
                reason: TerminationReason::OomKilled,
                message: "used 9.0 MiB of memory, over its limit of 1 KiB".to_owned(),
                exit_code: Some(137),
                finished_at: now - chrono::Duration::seconds(12),
            }),
            ..node
        };
        let table = render_table("box", &[oom_killed], now);
        assert!(
            table
                .lines()
                .nth(1)
                .unwrap()
                .contains("   1 (OOMKilled 12s ago)   127.0.0.1:50051"),
            "{table}"
        );
    }
}
