//! The StorageGrid controller: plans the grid over the cluster's Nodes and applies one
//! StorageNode per placed ordinal.
//!
//! Pipeline: [`dereference`] (list Nodes and the grid's StorageNodes) → validate →
//! [`build`] (plan and StorageNode objects, pure) → [`apply`] (only what differs) →
//! [`status`] (only when it changed).

pub mod apply;
pub mod build;
pub mod dereference;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use sutra_core::crd::condition::grid::DEGRADED;
use sutra_core::crd::condition::reason;
use sutra_core::crd::{StorageGrid, StorageNode, find};

use crate::controller::{Context, Error, FIELD_MANAGER, Result};
use crate::plan::{PlanOptions, plan_grid};

/// The `controller` label of the metrics.
pub const CONTROLLER: &str = "storagegrid";

/// Periodic re-plan, so NotReady hosts pass their grace period without another event.
const SETTLED: Duration = Duration::from_secs(60);

/// Reconciles one StorageGrid, recording metrics.
pub async fn reconcile(grid: Arc<StorageGrid>, ctx: Arc<Context>) -> Result<Action> {
    let key = format!(
        "{}/{}",
        grid.namespace().unwrap_or_default(),
        grid.name_any()
    );
    let result = ctx
        .metrics
        .measure(CONTROLLER, reconcile_grid(&grid, &ctx))
        .await;
    if result.is_ok() {
        ctx.backoff.reset(&key);
    }
    result
}

/// Requeue after a failure, with backoff per object.
pub fn error_policy(grid: Arc<StorageGrid>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{}/{}",
        grid.namespace().unwrap_or_default(),
        grid.name_any()
    );
    tracing::warn!(storagegrid = %key, %error, "reconcile failed");
    Action::requeue(ctx.backoff.next(&key, error))
}

async fn reconcile_grid(grid: &StorageGrid, ctx: &Context) -> Result<Action> {
    let namespace = grid.namespace().ok_or(Error::MissingField {
        kind: "StorageGrid",
        field: "metadata.namespace",
    })?;
    let name = grid.name_any();
    let observed = dereference::observe(ctx, &name, &namespace).await?;
    if let Err(invalid) = grid.validate(&ctx.variant_names()) {
        publish(
            ctx,
            grid,
            EventType::Warning,
            reason::INVALID_SPEC,
            "Validate",
            invalid.to_string(),
            None,
        )
        .await?;
        return Err(invalid.into());
    }
    let existing: Vec<_> = observed.nodes.iter().map(build::existing_node).collect();
    let plan = plan_grid(
        grid,
        &observed.hosts,
        &existing,
        ctx.catalog(),
        &PlanOptions::kubernetes(),
    );
    let writes = apply::apply(ctx, grid, &namespace, &observed.nodes, &plan).await?;
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
        grid,
        &kept,
        &plan,
        writes,
        ctx.config.storage_node_resources.as_ref(),
    );
    report_degraded(ctx, grid, &wanted).await?;
    report_no_memory_limit(ctx, grid, &wanted).await?;
    if !wanted.is_current(grid) {
        Api::<StorageGrid>::namespaced(ctx.client.clone(), &namespace)
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(wanted.apply_body(&name)),
            )
            .await?;
    }
    Ok(Action::requeue(SETTLED))
}

/// A Warning Event when the grid turns Degraded (a host lost, ordinals unplaced).
async fn report_degraded(
    ctx: &Context,
    grid: &StorageGrid,
    wanted: &status::GridStatus,
) -> Result<()> {
    let Some(now) = find(&wanted.conditions, DEGRADED).filter(|c| c.status == "True") else {
        return Ok(());
    };
    let before = grid
        .status
        .as_ref()
        .and_then(|s| find(&s.conditions, DEGRADED));
    if before.is_some_and(|c| c.status == "True" && c.message == now.message) {
        return Ok(());
    }
    publish(
        ctx,
        grid,
        EventType::Warning,
        &now.reason,
        "Plan",
        now.message.clone(),
        None,
    )
    .await
}

/// A Warning Event when the grid's storage containers turn out to have no memory limit.
async fn report_no_memory_limit(
    ctx: &Context,
    grid: &StorageGrid,
    wanted: &status::GridStatus,
) -> Result<()> {
    let Some(now) =
        find(&wanted.conditions, status::MEMORY_LIMITED).filter(|c| c.status == "False")
    else {
        return Ok(());
    };
    let before = grid
        .status
        .as_ref()
        .and_then(|s| find(&s.conditions, status::MEMORY_LIMITED));
    if before.is_some_and(|c| c.status == "False") {
        return Ok(());
    }
    publish(
        ctx,
        grid,
        EventType::Warning,
        status::NO_MEMORY_LIMIT,
        "Validate",
        now.message.clone(),
        None,
    )
    .await
}

pub(crate) async fn publish(
    ctx: &Context,
    grid: &StorageGrid,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
    related: Option<ObjectReference>,
) -> Result<()> {
    // `related` keeps Events about different StorageNodes from folding into one series.
    super::publish_event(
        ctx,
        &grid.object_ref(&()),
        type_,
        reason,
        action,
        note,
        related,
    )
    .await
}
