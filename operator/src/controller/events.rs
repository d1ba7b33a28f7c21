//! Events (`events.k8s.io/v1`) that keep the note they were raised with.
//!
//! kube's `Recorder` folds every Event with the same object, reason and action into one
//! series and keeps the first note, so "created with variant universal" would go on being
//! shown after the node is re-created as `x86-64-v4`. Here the note is part of the key:
//! only the same decision, said the same way, repeats as a series (within
//! [`SERIES_WINDOW`]); any other note is an Event of its own, so `kubectl describe` reads
//! as the object's true history.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, Client};

/// How long a repeated Event extends its series instead of starting a new Event.
pub const SERIES_WINDOW: SignedDuration = SignedDuration::from_secs(6 * 60);

/// One Event to record.
pub struct Note<'a> {
    pub type_: EventType,
    pub reason: &'a str,
    pub action: &'a str,
    pub note: String,
    pub related: Option<ObjectReference>,
}

impl<'a> Note<'a> {
    /// A `Normal` Event: something the operator did.
    pub fn normal(reason: &'a str, action: &'a str, note: String) -> Self {
        Note {
            type_: EventType::Normal,
            reason,
            action,
            note,
            related: None,
        }
    }

    /// A `Warning` Event: something a user may need to act on.
    pub fn warning(reason: &'a str, action: &'a str, note: String) -> Self {
        Note {
            type_: EventType::Warning,
            ..Note::normal(reason, action, note)
        }
    }

    /// Names a second object the Event concerns; Events about different related objects
    /// never fold into one series.
    pub fn related(self, related: ObjectReference) -> Self {
        Note {
            related: Some(related),
            ..self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    regarding: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
    related: Option<(Option<String>, Option<String>, Option<String>)>,
    type_: &'static str,
    reason: String,
    action: String,
    note: String,
}

/// Publishes Events as controller `controller` (instance `instance`).
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    sent: Mutex<HashMap<Key, K8sEvent>>,
}

impl Recorder {
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Recorder {
        Recorder {
            client,
            controller: controller.to_owned(),
            instance: instance.unwrap_or_else(|| controller.to_owned()),
            sent: Mutex::new(HashMap::new()),
        }
    }

    pub async fn publish(
        &self,
        note: Note<'_>,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = key(&note, regarding);
        let repeated = self
            .lock()
            .get(&key)
            .cloned()
            .filter(|earlier| is_recent(earlier, now));
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api = Api::<K8sEvent>::namespaced(self.client.clone(), namespace);
        let event = match repeated {
            Some(mut event) => {
                let count = event.series.as_ref().map_or(2, |s| s.count + 1);
                event.series = Some(EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                });
                let name = event.metadata.name.clone().unwrap_or_default();
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&event))
                    .await?;
                event
            }
            None => {
                let event = self.new_event(note, regarding, now);
                api.create(&PostParams::default(), &event).await?;
                event
            }
        };
        let mut sent = self.lock();
        sent.retain(|_, e| is_recent(e, now));
        sent.insert(key, event);
        Ok(())
    }

    fn new_event(&self, note: Note<'_>, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let owner = regarding.name.as_deref().unwrap_or(&self.controller);
        K8sEvent {
            action: Some(note.action.to_owned()),
            reason: Some(note.reason.to_owned()),
            note: Some(note.note),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: note.related,
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(type_name(note.type_).to_owned()),
            metadata: ObjectMeta {
                name: Some(format!("{owner}.{:x}", now.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            ..K8sEvent::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, K8sEvent>> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether `event` was last seen within [`SERIES_WINDOW`] of `now`.
fn is_recent(event: &K8sEvent, now: Timestamp) -> bool {
    let last = event
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or(event.event_time.as_ref().map(|t| t.0));
    last.is_some_and(|last| last + SERIES_WINDOW > now)
}

fn type_name(type_: EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

fn key(note: &Note<'_>, regarding: &ObjectReference) -> Key {
    Key {
        regarding: (
            regarding.kind.clone(),
            regarding.namespace.clone(),
            regarding.name.clone(),
            regarding.uid.clone(),
        ),
        related: note
            .related
            .as_ref()
            .map(|r| (r.kind.clone(), r.name.clone(), r.uid.clone())),
        type_: type_name(note.type_),
        reason: note.reason.to_owned(),
        action: note.action.to_owned(),
        note: note.note.clone(),
    }
}
