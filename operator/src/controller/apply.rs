//! The writes both controllers issue, and the readiness they read back.
//!
//! Every write is a server-side apply with field manager [`FIELD_MANAGER`], forced: the
//! operator is the only writer of the fields it sets. An owned object carries the hash of
//! its desired content in [`SPEC_HASH_ANNOTATION`]; a write is issued only when that hash
//! differs from the observed one, so a steady state issues no writes.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Context, Error, FIELD_MANAGER, Result, SPEC_HASH_ANNOTATION, Verb};

/// A namespaced kind the operator reads and writes.
pub trait Namespaced:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Serialize
    + DeserializeOwned
    + Debug
{
}

impl<K> Namespaced for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
{
}

pub(super) fn api<K: Namespaced>(ctx: &Context, namespace: &str) -> Api<K> {
    Api::namespaced(ctx.client.clone(), namespace)
}

/// Awaits `request`, a `verb` on the `K` called `name`, naming it in the error.
pub(super) async fn request<K: Namespaced, T>(
    verb: Verb,
    namespace: &str,
    name: &str,
    request: impl Future<Output = kube::Result<T>>,
) -> Result<T> {
    request
        .await
        .map_err(Error::api::<K>(verb, Some(namespace), name))
}

/// The `K` called `name` in `namespace`, if it exists.
pub async fn get<K: Namespaced>(ctx: &Context, namespace: &str, name: &str) -> Result<Option<K>> {
    let api = api(ctx, namespace);
    request::<K, _>(Verb::Get, namespace, name, api.get_opt(name)).await
}

/// Every `K` in `namespace` carrying the label `key=value`.
pub async fn list_labelled<K: Namespaced>(
    ctx: &Context,
    namespace: &str,
    key: &str,
    value: &str,
) -> Result<Vec<K>> {
    let selector = format!("{key}={value}");
    let params = ListParams::default().labels(&selector);
    let api = api(ctx, namespace);
    let listed = request::<K, _>(Verb::List, namespace, &selector, api.list(&params)).await?;
    Ok(listed.items)
}

/// Server-side apply of `object` into `namespace`.
pub async fn server_side_apply<K: Namespaced>(
    ctx: &Context,
    namespace: &str,
    object: &K,
) -> Result<K> {
    let name = object.meta().name.clone().unwrap_or_default();
    let mut body = serde_json::to_value(object).expect("k8s objects always serialise");
    body["apiVersion"] = K::api_version(&()).into();
    body["kind"] = K::kind(&()).into();
    let (api, params, patch) = (api(ctx, namespace), forced(), Patch::Apply(&body));
    request::<K, _>(
        Verb::Apply,
        namespace,
        &name,
        api.patch(&name, &params, &patch),
    )
    .await
}

/// Applies `desired` unless `observed` already carries its spec hash; returns whether it
/// wrote.
pub async fn apply_if_changed<K: Namespaced>(
    ctx: &Context,
    namespace: &str,
    observed: Option<&K>,
    desired: &K,
) -> Result<bool> {
    if observed.map(|o| hash_of(o.meta())) == Some(hash_of(desired.meta())) {
        return Ok(false);
    }
    server_side_apply(ctx, namespace, desired).await?;
    Ok(true)
}

/// Deletes the `K` called `name`.
pub async fn delete<K: Namespaced>(
    ctx: &Context,
    namespace: &str,
    name: &str,
    params: &DeleteParams,
) -> Result<()> {
    let api = api::<K>(ctx, namespace);
    request::<K, _>(Verb::Delete, namespace, name, api.delete(name, params))
        .await
        .map(drop)
}

/// A server-side apply by the operator's field manager, taking over fields another
/// manager set.
pub(super) fn forced() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// FNV-1a of the JSON form: stable across runs and releases, unlike `DefaultHasher`.
pub fn spec_hash<T: Serialize>(content: &T) -> String {
    let json = serde_json::to_vec(content).expect("k8s objects always serialise");
    let hash = json.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// The annotations of an object whose desired content is `content`.
pub fn hash_annotation<T: Serialize>(content: &T) -> BTreeMap<String, String> {
    BTreeMap::from([(SPEC_HASH_ANNOTATION.to_owned(), spec_hash(content))])
}

/// The spec hash an owned object carries, if any.
pub fn hash_of(meta: &ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(SPEC_HASH_ANNOTATION))
        .map(String::as_str)
}

/// Whether the kubelet reports the Pod Ready (its readiness probe passes).
pub fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}
