//! What the status steps of both controllers share: conditions stamped with the generation
//! they describe, a comparison that ignores transition times, the apply body, and the one
//! status write per reconcile, issued only when something changed.

use kube::Resource;
use kube::api::Patch;
use serde_json::{Value, json};
use sutra_core::crd::condition::node::READY;
use sutra_core::crd::condition::now;
use sutra_core::crd::{
    Condition, ConditionStatus, GROUP, StorageNode, VERSION, find, is_true, new_condition,
};

use super::apply::{Namespaced, api, forced, request};
use super::{Context, Result, Verb};

/// The status a reconcile wants on an object of kind `Object`.
pub trait DesiredStatus: Clone + PartialEq {
    type Object: Namespaced;

    /// The owned fields as `object`'s status holds them now; `None` without a status.
    fn current(object: &Self::Object) -> Option<Self>;

    /// The conditions among the owned fields.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;

    /// Whether `object`'s status already says all of this: the same owned fields, and
    /// every wanted condition held with the same status, reason, message and generation
    /// (transition times aside; conditions other writers own may stand beside them).
    fn is_current(&self, object: &Self::Object) -> bool {
        let Some(mut current) = Self::current(object) else {
            return false;
        };
        let held = std::mem::take(current.conditions_mut());
        let mut wanted = self.clone();
        let wanted_conditions = std::mem::take(wanted.conditions_mut());
        holds_all(&held, &wanted_conditions) && wanted == current
    }

    /// The `status` of the apply body: only the fields the operator owns.
    fn fields(&self) -> Value;
}

/// Applies `wanted` to `object`'s status subresource unless it is current.
pub async fn update<S: DesiredStatus>(
    ctx: &Context,
    namespace: &str,
    object: &S::Object,
    wanted: &S,
) -> Result<()> {
    if wanted.is_current(object) {
        return Ok(());
    }
    let name = object.meta().name.clone().unwrap_or_default();
    let body = Patch::Apply(status_body::<S::Object>(&name, wanted.fields()));
    let (api, params) = (api::<S::Object>(ctx, namespace), forced());
    let applied = api.patch_status(&name, &params, &body);
    request::<S::Object, _>(Verb::ApplyStatus, namespace, &name, applied)
        .await
        .map(drop)
}

/// The server-side apply body of the status subresource of the `K` called `name`.
pub fn status_body<K: Resource<DynamicType = ()>>(name: &str, status: Value) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": K::kind(&()),
        "metadata": {"name": name},
        "status": status,
    })
}

/// A condition about `generation`, its transition stamped now (kept by `set_condition`
/// when the status does not change).
pub fn condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    new_condition(type_, status, reason, message, generation, now())
}

/// Whether `current` holds every condition of `wanted` with the same status, reason,
/// message and generation.
pub fn holds_all(current: &[Condition], wanted: &[Condition]) -> bool {
    wanted.iter().all(|wanted| {
        current.iter().any(|c| {
            c.type_ == wanted.type_
                && c.status == wanted.status
                && c.reason == wanted.reason
                && c.message == wanted.message
                && c.observed_generation == wanted.observed_generation
        })
    })
}

/// Whether `wanted` tells something `current` does not: a condition of its type with
/// another status, or, when `message_counts`, with another message. Events are published
/// on such a change only, so each is said once.
pub fn is_news(current: Option<&[Condition]>, wanted: &Condition, message_counts: bool) -> bool {
    let before = current.and_then(|conditions| find(conditions, &wanted.type_));
    !before.is_some_and(|before| {
        before.status == wanted.status && (!message_counts || before.message == wanted.message)
    })
}

/// Whether the StorageNode is Ready.
pub fn is_ready(node: &StorageNode) -> bool {
    node.status
        .as_ref()
        .is_some_and(|s| is_true(&s.conditions, READY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stated(status: ConditionStatus, message: &str) -> Condition {
        condition("Degraded", status, "Why", message.to_owned(), Some(1))
    }

    #[test]
    fn news_is_a_new_status_or_when_it_counts_a_new_message() {
        let now = stated(ConditionStatus::True, "a");
        assert!(is_news(None, &now, false));
        assert!(is_news(Some(&[]), &now, false));
        let same = [stated(ConditionStatus::True, "a")];
        assert!(!is_news(Some(&same), &now, true));
        let reworded = [stated(ConditionStatus::True, "b")];
        assert!(is_news(Some(&reworded), &now, true));
        assert!(!is_news(Some(&reworded), &now, false));
        let other = [stated(ConditionStatus::False, "a")];
        assert!(is_news(Some(&other), &now, false));
    }

    #[test]
    fn current_conditions_ignore_transition_times_but_not_generations() {
        let wanted = [stated(ConditionStatus::True, "a")];
        let mut earlier = wanted.clone();
        earlier[0].last_transition_time = sutra_core::crd::Time(Default::default());
        assert!(holds_all(&earlier, &wanted));
        earlier[0].observed_generation = Some(0);
        assert!(!holds_all(&earlier, &wanted));
        assert!(!holds_all(&[], &wanted));
    }

    /// The default `is_current`: the owned fields must be equal, wanted conditions held
    /// whatever their times, and conditions other writers own may stand beside them.
    #[test]
    fn a_status_is_current_when_its_fields_match_and_its_conditions_are_held() {
        use sutra_core::crd::{StorageGrid, StorageGridSpec, StorageGridStatus};
        let wanted = StorageGridStatus {
            observed_generation: Some(1),
            replicas: 2,
            conditions: vec![stated(ConditionStatus::True, "a")],
            ..StorageGridStatus::default()
        };
        let spec: StorageGridSpec =
            serde_json::from_value(json!({"replicas": 2, "vector": {"dimension": 8}})).unwrap();
        let grid_with = |status: Option<StorageGridStatus>| StorageGrid {
            status,
            ..StorageGrid::new("g", spec.clone())
        };
        assert!(!wanted.is_current(&grid_with(None)));
        let mut current = wanted.clone();
        current.conditions[0].last_transition_time = sutra_core::crd::Time(Default::default());
        current.conditions.push(condition(
            "Other",
            ConditionStatus::True,
            "Theirs",
            "b".into(),
            None,
        ));
        assert!(wanted.is_current(&grid_with(Some(current.clone()))));
        let fewer = StorageGridStatus {
            replicas: 1,
            ..current.clone()
        };
        assert!(!wanted.is_current(&grid_with(Some(fewer))));
        let reworded = StorageGridStatus {
            conditions: vec![stated(ConditionStatus::True, "b")],
            ..current
        };
        assert!(!wanted.is_current(&grid_with(Some(reworded))));
    }

    #[test]
    fn the_apply_body_names_group_version_kind_and_object() {
        let body = status_body::<StorageNode>("g-0", json!({"phase": "Ready"}));
        assert_eq!(
            body,
            json!({
                "apiVersion": "grid.sutra.ai/v1alpha1", "kind": "StorageNode",
                "metadata": {"name": "g-0"}, "status": {"phase": "Ready"}
            })
        );
    }
}
