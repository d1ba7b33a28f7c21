//! The operator's Event recorder against a mocked API server: a decision said differently
//! is an Event of its own, and only the very same note repeats as a series, so `kubectl
//! describe` never shows a stale note under a newer count.

mod reconcile_support;

use http::Method;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;
use reconcile_support::*;
use sutra_grid::controller::events::{Note, Recorder};

const NS: &str = "default";

fn grid_ref() -> ObjectReference {
    ObjectReference {
        api_version: Some("grid.sutra.ai/v1alpha1".to_owned()),
        kind: Some("StorageGrid".to_owned()),
        name: Some("g".to_owned()),
        namespace: Some(NS.to_owned()),
        uid: Some("grid-uid".to_owned()),
        ..ObjectReference::default()
    }
}

fn created(note: &str) -> Note<'static> {
    Note {
        type_: EventType::Normal,
        reason: "StorageNodeCreated",
        action: "Apply",
        note: note.to_owned(),
        related: None,
    }
}

#[tokio::test]
async fn a_new_note_is_a_new_event_and_only_the_same_note_extends_a_series() {
    let (client, scenario) = scenario(vec![event(NS), event(NS), event(NS)]);
    let recorder = Recorder::new(client, "sutra-grid", None);
    let first = "g-0 on host-a with variant universal: rule amd64-default";
    let second = "g-0 on host-a with variant x86-64-v4: rule nfd-avx512";
    for note in [first, second, second] {
        recorder.publish(created(note), &grid_ref()).await.unwrap();
    }
    drop(recorder);
    let sent = scenario.finish().await;

    assert_eq!(sent[0].method, Method::POST);
    assert_eq!(sent[0].body["note"], first);
    assert_eq!(sent[1].method, Method::POST, "a new note is not folded");
    assert_eq!(sent[1].body["note"], second);
    assert_ne!(
        sent[0].body["metadata"]["name"],
        sent[1].body["metadata"]["name"]
    );
    assert_eq!(
        sent[2].method,
        Method::PATCH,
        "the same note again extends the series"
    );
    assert_eq!(sent[2].body["note"], second);
    assert_eq!(sent[2].body["series"]["count"], 2);
    assert!(
        sent[2]
            .path
            .ends_with(sent[1].body["metadata"]["name"].as_str().unwrap())
    );
    for event in &sent {
        assert_eq!(event.body["reason"], "StorageNodeCreated");
        assert_eq!(event.body["reportingController"], "sutra-grid");
        assert_eq!(event.body["regarding"]["uid"], "grid-uid");
    }
}
