//! The platform report: its summary and verdict, and the StorageNode status write, checked
//! at the HTTP level against a mocked API server (`tower_test::mock::pair` behind a real
//! `kube::Client`).

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use sutra_core::backoff::Backoff;
use sutra_core::crd::Time;
use sutra_core::platform::fixture::linux_host;
use sutra_core::platform::{Arch, CpuInfo, PlatformReport, SimdFeature};
use sutra_core::variant::VariantCatalog;
use sutra_storage::report::{ClusterIdentity, PlatformStatus, report_at, report_with_retry};
use tower_test::mock;

type ApiHandle = mock::Handle<Request<Body>, Response<Body>>;

const NAMESPACE: &str = "vectors";
const NAME: &str = "grid-a-0";
const NODE_PATH: &str = "/apis/grid.sutra.ai/v1alpha1/namespaces/vectors/storagenodes/grid-a-0";

fn mock_client() -> (kube::Client, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), handle)
}

fn identity() -> ClusterIdentity {
    ClusterIdentity {
        name: NAME.into(),
        namespace: NAMESPACE.into(),
    }
}

/// A Graviton3 host (c7g, Neoverse-V1, 256-bit SVE, 64 KiB pages).
fn graviton3_report() -> PlatformReport {
    let cpu = CpuInfo {
        vendor: "ARM".into(),
        model: "Neoverse-V1".into(),
        implementer: Some(0x41),
        part: Some(0xd40),
        logical_cpus: 4,
        x86_64_level: None,
        flags: vec!["asimd".into(), "sve".into()],
    };
    let simd = [
        SimdFeature::Neon,
        SimdFeature::Dotprod,
        SimdFeature::I8mm,
        SimdFeature::Sve,
        SimdFeature::Lse,
    ];
    PlatformReport {
        sve_vector_bytes: Some(32),
        page_size: 65536,
        instance_type: Some("c7g.xlarge".into()),
        ..linux_host(Arch::Arm64, cpu, &simd, 8 << 30)
    }
}

#[test]
fn summary_names_model_arch_simd_and_page_size() {
    assert_eq!(graviton3_report().summary(), "Neoverse-V1 arm64 sve 64KiB");
}

#[test]
fn summary_falls_back_to_the_instance_type_and_scalar() {
    let mut report = graviton3_report();
    report.cpu.model = String::new();
    report.simd.clear();
    report.page_size = 4096;
    assert_eq!(report.summary(), "c7g.xlarge arm64 scalar 4KiB");
}

#[test]
fn the_verdict_compares_the_running_variant_with_the_best() {
    let catalog = VariantCatalog::builtin();
    let status = PlatformStatus::new(graviton3_report(), "universal", catalog);
    let best = catalog.best_for_host(&graviton3_report()).variant;
    assert_eq!(status.verdict.best, best);
    assert_eq!(status.config.best_variant, best);
    assert_eq!(status.metric_labels("neon").variant, "universal");
    assert_eq!(status.metric_labels("neon").thp, "madvise");
}

fn time(text: &str) -> Time {
    Time(text.parse().unwrap())
}

/// The StorageNode as the API server holds it: generation 4, and a `PlatformDetected`
/// condition from an earlier run of this node.
fn stored_node() -> Value {
    json!({
        "apiVersion": "grid.sutra.ai/v1alpha1",
        "kind": "StorageNode",
        "metadata": { "name": NAME, "namespace": NAMESPACE, "generation": 4 },
        "spec": { "variant": "pi4", "vector": { "dimension": 768 } },
        "status": {
            "conditions": [{
                "type": "PlatformDetected",
                "status": "True",
                "reason": "Detected",
                "message": "detected earlier",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
                "observedGeneration": 3
            }]
        }
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn query_pairs(request: &Request<Body>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key.to_string(), value.to_string())
        })
        .collect();
    pairs.sort();
    pairs
}

/// Serves the GET, then checks the PATCH and returns its body.
async fn expect_get_then_apply(handle: &mut ApiHandle) -> Value {
    let (request, respond) = handle.next_request().await.expect("a GET of the node");
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri().path(), NODE_PATH);
    respond.send_response(json_response(StatusCode::OK, &stored_node()));

    let (request, respond) = handle.next_request().await.expect("a status PATCH");
    assert_eq!(request.method(), Method::PATCH);
    assert_eq!(request.uri().path(), format!("{NODE_PATH}/status"));
    assert_eq!(
        query_pairs(&request),
        vec![
            ("fieldManager".to_string(), "sutra-storage".to_string()),
            ("force".to_string(), "true".to_string()),
        ]
    );
    assert_eq!(
        request.headers().get("content-type").unwrap(),
        "application/apply-patch+yaml"
    );
    let body = request.into_body().collect_bytes().await.unwrap();
    respond.send_response(json_response(StatusCode::OK, &stored_node()));
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn the_status_patch_reports_the_platform_and_the_best_variant_only() {
    let (client, mut handle) = mock_client();
    let report = graviton3_report();
    let status = PlatformStatus::new(report.clone(), "pi4", VariantCatalog::builtin());
    let now = time("2025-06-01T12:00:00Z");
    let api = tokio::spawn(async move { expect_get_then_apply(&mut handle).await });

    report_at(client, &identity(), &status, now).await.unwrap();
    let body = api.await.unwrap();

    // `variant` and `VariantMatched` belong to the operator, which chose the image.
    let expected = json!({
        "apiVersion": "grid.sutra.ai/v1alpha1",
        "kind": "StorageNode",
        "metadata": { "name": NAME },
        "status": {
            "platform": serde_json::to_value(&report).unwrap(),
            "platformSummary": "Neoverse-V1 arm64 sve 64KiB",
            "bestVariant": "graviton3",
            "conditions": [{
                "type": "PlatformDetected",
                "status": "True",
                "reason": "Detected",
                "message": "detected Neoverse-V1 arm64 sve 64KiB; the best variant for it is graviton3",
                // Still True: the time it became True stays.
                "lastTransitionTime": "2025-01-01T00:00:00Z",
                "observedGeneration": 4
            }]
        }
    });
    assert_eq!(body, expected);
}

/// The builtin table with one change: Graviton3 instance families get `graviton2`.
fn rules_preferring_graviton2_on_c7g() -> VariantCatalog {
    let yaml = sutra_core::variant::BUILTIN_YAML.replace(
        "description: AWS instance family with Graviton3\n    variant: graviton3",
        "description: AWS instance family with Graviton3\n    variant: graviton2",
    );
    assert_ne!(
        yaml,
        sutra_core::variant::BUILTIN_YAML,
        "the rule was found"
    );
    VariantCatalog::from_yaml(&yaml).unwrap()
}

#[tokio::test]
async fn the_best_variant_is_judged_with_the_rules_the_node_was_given() {
    let (client, mut handle) = mock_client();
    let custom = rules_preferring_graviton2_on_c7g();
    let status = PlatformStatus::new(graviton3_report(), "graviton2", &custom);
    let api = tokio::spawn(async move { expect_get_then_apply(&mut handle).await });

    report_at(client, &identity(), &status, time("2025-06-01T12:00:00Z"))
        .await
        .unwrap();
    let body = api.await.unwrap();

    assert_eq!(body["status"]["bestVariant"], "graviton2");
    assert_eq!(
        PlatformStatus::new(graviton3_report(), "graviton2", VariantCatalog::builtin())
            .verdict
            .best,
        "graviton3",
        "the builtin table would have judged differently"
    );
}

#[tokio::test]
async fn a_failed_write_is_retried_until_it_succeeds() {
    let (client, mut handle) = mock_client();
    let status = PlatformStatus::new(graviton3_report(), "graviton3", VariantCatalog::builtin());
    let api = tokio::spawn(async move {
        let (request, respond) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), Method::GET);
        let failure = json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "etcd is unavailable", "reason": "InternalError", "code": 500
        });
        respond.send_response(json_response(StatusCode::INTERNAL_SERVER_ERROR, &failure));
        expect_get_then_apply(&mut handle).await
    });
    let backoff = Backoff::new(
        std::time::Duration::from_millis(1),
        std::time::Duration::from_millis(4),
    );

    let attempts = report_with_retry(client, &identity(), &status, backoff).await;
    let body = api.await.unwrap();

    assert_eq!(attempts, 2);
    assert_eq!(body["status"]["bestVariant"], "graviton3");
}
