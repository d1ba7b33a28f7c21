//! The StorageGrid controller: plans the grid over the cluster's Nodes and applies one
//! StorageNode per placed ordinal.
//!
//! Pipeline: [`dereference`] (list Nodes and the grid's StorageNodes) →
//! [`validate`](crate::controller::validate) → [`build`] (plan and StorageNode objects,
//! pure) → [`apply`] (only what differs) → [`status`] (only when it changed).
//!
//! Every grid is planned over every Node, so a Node change re-plans them all; only the
//! changes that can alter a plan count ([`node_changes`]).

pub mod apply;
pub mod build;
pub mod dereference;
pub mod node_changes;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use sutra_core::crd::condition::grid::{DEGRADED, MEMORY_LIMITED};
use sutra_core::crd::condition::reason::NO_MEMORY_LIMIT;
use sutra_core::crd::{Condition, StorageGrid, StorageNode, find};

use crate::controller::events::Note;
use crate::controller::validate::{Validated, validate};
use crate::controller::{Context, Error, Result, object_key, status::is_news};
use sutra_core::plan::{PlanOptions, plan_grid};

/// The `controller` label of the metrics.
pub const CONTROLLER: &str = "storagegrid";

/// Periodic re-plan, so NotReady hosts pass their grace period without another event.
const SETTLED: Duration = Duration::from_secs(60);

/// Reconciles one StorageGrid, recording metrics.
pub async fn reconcile(grid: Arc<StorageGrid>, ctx: Arc<Context>) -> Result<Action> {
    let result = ctx
        .metrics
        .measure(CONTROLLER, reconcile_grid(&grid, &ctx))
        .await;
    if result.is_ok() {
        ctx.backoff.reset(&object_key(grid.as_ref()));
    }
    result
}

/// Requeue after a failure, with backoff per object.
pub fn error_policy(grid: Arc<StorageGrid>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = object_key(grid.as_ref());
    tracing::warn!(storagegrid = %key, %error, "reconcile failed");
    Action::requeue(ctx.backoff.next(&key, error))
}

async fn reconcile_grid(grid: &StorageGrid, ctx: &Context) -> Result<Action> {
    let namespace = grid.namespace().ok_or(Error::MissingField {
        kind: "StorageGrid",
        field: "metadata.namespace",
    })?;
    let observed = dereference::observe(ctx, &grid.name_any(), &namespace).await?;
    let grid = validate(ctx, grid).await?;
    reconcile_valid(ctx, grid, &namespace, &observed).await
}

async fn reconcile_valid(
    ctx: &Context,
    grid: Validated<'_, StorageGrid>,
    namespace: &str,
    observed: &dereference::Observed,
) -> Result<Action> {
    let existing: Vec<_> = observed.nodes.iter().map(build::existing_node).collect();
    let plan = plan_grid(
        &grid,
        &observed.hosts,
        &existing,
        ctx.catalog(),
        &PlanOptions::kubernetes(),
    );
    let writes = apply::apply(ctx, grid, namespace, &observed.nodes, &plan).await?;
    let kept: Vec<&StorageNode> = observed
        .nodes
        .iter()
        .filter(|node| {
            !plan
                .remove
                .iter()
                .any(|name| Some(name) == node.metadata.name.as_ref())
        })
        .collect();
    let wanted = status::desired_status(
        &grid,
        &kept,
        &plan,
        writes,
        ctx.config.storage_node_resources.as_ref(),
    );
    report_conditions(ctx, &grid, &wanted.conditions).await?;
    crate::controller::status::update(ctx, namespace, &*grid, &wanted).await?;
    Ok(Action::requeue(SETTLED))
}

/// A Warning Event when the grid turns Degraded (a host lost, ordinals unplaced; again
/// when the message changes), and when its storage containers turn out to have no memory
/// limit.
async fn report_conditions(ctx: &Context, grid: &StorageGrid, wanted: &[Condition]) -> Result<()> {
    let current = grid.status.as_ref().map(|s| s.conditions.as_slice());
    if let Some(degraded) = find(wanted, DEGRADED).filter(|c| c.status == "True")
        && is_news(current, degraded, true)
    {
        let note = Note::warning(&degraded.reason, "Plan", degraded.message.clone());
        ctx.publish(grid, note).await?;
    }
    if let Some(unlimited) = find(wanted, MEMORY_LIMITED).filter(|c| c.status == "False")
        && is_news(current, unlimited, false)
    {
        let note = Note::warning(NO_MEMORY_LIMIT, "Validate", unlimited.message.clone());
        ctx.publish(grid, note).await?;
    }
    Ok(())
}
