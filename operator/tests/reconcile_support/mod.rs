//! A mocked API server at the HTTP level (the kube-rs `controller-rs` pattern with
//! tower-test): each test lists the requests it expects, in order, with the reply to each;
//! the server checks method and path, records query and body, and fails on any request
//! not in the script, or when the reconcile stops before the script ends.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use sutra_core::variant::{BUILTIN_YAML, VariantCatalog, VariantRules};
use sutra_grid::controller::{Config, Context, Error, Metrics};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

/// One expected request and the reply to it.
pub struct Step {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub reply: Value,
    /// For status applies: the object the reply is based on, given the status sent.
    pub status_of: Option<Value>,
}

pub fn step(method: Method, path: impl Into<String>, reply: Value) -> Step {
    Step {
        method,
        path: path.into(),
        status: StatusCode::OK,
        reply,
        status_of: None,
    }
}

pub fn get(path: impl Into<String>, reply: Value) -> Step {
    step(Method::GET, path, reply)
}

pub fn not_found(path: impl Into<String>) -> Step {
    let path = path.into();
    Step {
        method: Method::GET,
        status: StatusCode::NOT_FOUND,
        reply: json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": format!("{path} not found"), "reason": "NotFound", "code": 404
        }),
        status_of: None,
        path,
    }
}

/// A server-side apply; the reply echoes the body sent.
pub fn apply(path: impl Into<String>) -> Step {
    step(Method::PATCH, path, Value::Null)
}

/// A server-side apply of `object`'s status subresource; the reply is `object` with the
/// status sent.
pub fn apply_status(path: impl Into<String>, object: Value) -> Step {
    Step {
        status_of: Some(object),
        ..step(Method::PATCH, path, Value::Null)
    }
}

pub fn delete(path: impl Into<String>) -> Step {
    step(
        Method::DELETE,
        path,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
    )
}

/// An Event in `namespace` (the Recorder's POST to events.k8s.io).
pub fn event(namespace: &str) -> Step {
    step(
        Method::POST,
        format!("/apis/events.k8s.io/v1/namespaces/{namespace}/events"),
        Value::Null,
    )
}

impl Step {
    /// Events match by collection: the Recorder POSTs a new Event, or PATCHes the series
    /// of one it already sent.
    fn matches(&self, sent: &Sent) -> bool {
        if self.path.ends_with("/events") {
            return sent.path.starts_with(&self.path)
                && (sent.method == Method::POST || sent.method == Method::PATCH);
        }
        sent.method == self.method && sent.path == self.path
    }
}

/// What the reconcile sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Value,
}

impl Sent {
    pub fn is_write(&self) -> bool {
        self.method != Method::GET && !self.path.contains("/events")
    }

    /// Asserts this was a server-side apply by `sutra-grid`, forced.
    pub fn assert_apply(&self) {
        assert_eq!(self.method, Method::PATCH, "{self:?}");
        assert!(
            self.query.contains("fieldManager=sutra-grid"),
            "{}",
            self.query
        );
        assert!(self.query.contains("force=true"), "{}", self.query);
    }

    /// Asserts this is the Event `reason` and its note says `says`.
    pub fn assert_event(&self, reason: &str, says: &str) {
        assert_eq!(self.event_reason(), Some(reason), "{self:?}");
        let note = self.body["note"].as_str().unwrap_or_default();
        assert!(note.contains(says), "{note}");
    }

    /// The Event's reason, when this is one.
    pub fn event_reason(&self) -> Option<&str> {
        self.path
            .contains("/events")
            .then(|| self.body["reason"].as_str().unwrap_or_default())
    }
}

/// A client wired to a script; `finish` returns what was sent.
pub struct Scenario {
    task: JoinHandle<Vec<Sent>>,
}

pub fn scenario(steps: Vec<Step>) -> (Client, Scenario) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let task = tokio::spawn(serve(handle, steps));
    (Client::new(service, "default"), Scenario { task })
}

pub fn context(client: Client) -> Arc<Context> {
    context_with(client, Config::default())
}

pub fn context_with(client: Client, config: Config) -> Arc<Context> {
    context_with_rules(client, config, VariantRules::builtin())
}

pub fn context_with_rules(client: Client, config: Config, rules: VariantRules) -> Arc<Context> {
    Context::new(client, Arc::new(Metrics::new()), Arc::new(rules), config)
}

/// Runs `reconcile`, which must succeed, with the context `make_context` builds on a
/// client scripted by `steps`; returns what was sent.
pub async fn run<Fut>(
    steps: Vec<Step>,
    make_context: impl FnOnce(Client) -> Arc<Context>,
    reconcile: impl FnOnce(Arc<Context>) -> Fut,
) -> Vec<Sent>
where
    Fut: Future<Output = Result<Action, Error>>,
{
    let (client, scenario) = scenario(steps);
    reconcile(make_context(client))
        .await
        .expect("reconcile succeeds");
    scenario.finish().await
}

/// The builtin rule table with the rule described as `description` picking `variant`.
pub fn rules_with(description: &str, from: &str, to: &str) -> VariantRules {
    let rule = |variant: &str| format!("description: {description}\n    variant: {variant}");
    let yaml = BUILTIN_YAML.replace(&rule(from), &rule(to));
    assert_ne!(yaml, BUILTIN_YAML, "the rule was found");
    VariantRules {
        catalog: VariantCatalog::from_yaml(&yaml).unwrap(),
        yaml,
    }
}

impl Scenario {
    /// Waits for the script to end; every client clone must be dropped first so the
    /// server can tell that no further request is coming.
    pub async fn finish(self) -> Vec<Sent> {
        self.task.await.expect("the mock API server panicked")
    }
}

async fn serve(mut handle: Handle<Request<Body>, Response<Body>>, steps: Vec<Step>) -> Vec<Sent> {
    let mut sent = Vec::new();
    for (index, step) in steps.into_iter().enumerate() {
        let Some((request, reply)) = handle.next_request().await else {
            panic!(
                "request {index} never came: expected {} {}; sent so far: {:#?}",
                step.method, step.path, sent
            );
        };
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap().to_vec();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        let record = Sent {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: body.clone(),
        };
        assert!(
            step.matches(&record),
            "request {index} was {} {}, expected {} {}; sent before: {sent:#?}",
            record.method,
            record.path,
            step.method,
            step.path
        );
        let payload = match (step.status_of, step.reply.is_null()) {
            (Some(mut object), _) => {
                object["status"] = body["status"].clone();
                object
            }
            (None, true) => body,
            (None, false) => step.reply,
        };
        sent.push(record);
        reply.send_response(
            Response::builder()
                .status(step.status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&payload).unwrap()))
                .unwrap(),
        );
    }
    if let Some((request, _)) = handle.next_request().await {
        panic!(
            "unexpected request {} {}; sent: {sent:#?}",
            request.method(),
            request.uri()
        );
    }
    sent
}

/// A Kubernetes Node list.
pub fn node_list(nodes: Vec<Value>) -> Value {
    json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": nodes})
}

/// A Ready, schedulable Node with these labels.
pub fn node(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {},
        "status": {"conditions": [{
            "type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"
        }]}
    })
}

/// The condition `type_` of a status.
pub fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status:#}"))
}

/// Asserts a condition's message says `says`.
pub fn assert_message(condition: &Value, says: &str) {
    let message = condition["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{condition}");
}

/// The reason and note of every Event sent.
pub fn events(sent: &[Sent]) -> Vec<(String, String)> {
    sent.iter()
        .filter_map(|s| {
            s.event_reason().map(|reason| {
                (
                    reason.to_owned(),
                    s.body["note"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect()
}

pub fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": "grid.sutra.ai/v1alpha1", "metadata": {"resourceVersion": "1"}, "items": items})
}
