//! Prometheus metrics, named like controller-runtime's and recorded at the reconcile
//! boundary.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Registry, TextEncoder,
    register_histogram_vec_with_registry, register_int_counter_vec_with_registry,
    register_int_gauge_vec_with_registry,
};

use super::Error;

pub struct Metrics {
    pub registry: Registry,
    reconcile_total: IntCounterVec,
    reconcile_errors: IntCounterVec,
    reconcile_time: HistogramVec,
    storagenodes: IntGaugeVec,
    /// (phase, variant) of each StorageNode by `namespace/name`, to recount the gauge.
    node_states: Mutex<BTreeMap<String, (String, String)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        // Each metric is created and registered in one step; names are constant and
        // unique, so neither can fail.
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register_int_counter_vec_with_registry!(name, help, labels, registry)
                .expect("valid, unique metric")
        };
        let reconcile_total = counter(
            "sutra_grid_reconcile_total",
            "Reconciles by controller and result",
            &["controller", "result"],
        );
        let reconcile_errors = counter(
            "sutra_grid_reconcile_errors_total",
            "Failed reconciles by controller and error class",
            &["controller", "error"],
        );
        let reconcile_time = register_histogram_vec_with_registry!(
            HistogramOpts::new(
                "sutra_grid_reconcile_time_seconds",
                "Duration of one reconcile",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            &["controller"],
            registry
        )
        .expect("valid, unique metric");
        let storagenodes = register_int_gauge_vec_with_registry!(
            "sutra_grid_storagenodes",
            "StorageNodes by phase and variant",
            &["phase", "variant"],
            registry
        )
        .expect("valid, unique metric");
        Metrics {
            registry,
            reconcile_total,
            reconcile_errors,
            reconcile_time,
            storagenodes,
            node_states: Mutex::new(BTreeMap::new()),
        }
    }

    /// Runs one reconcile and records its duration, result and error class.
    pub async fn measure<T>(
        &self,
        controller: &str,
        reconcile: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let result = reconcile.await;
        self.reconcile_time
            .with_label_values(&[controller])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "success",
            Err(error) => {
                self.reconcile_errors
                    .with_label_values(&[controller, error.metric_label()])
                    .inc();
                "error"
            }
        };
        self.reconcile_total
            .with_label_values(&[controller, outcome])
            .inc();
        result
    }

    /// Records a StorageNode's phase and variant; `None` when it is gone.
    pub fn set_storagenode(&self, key: &str, state: Option<(&str, &str)>) {
        let mut states = self
            .node_states
            .lock()
            .expect("metrics lock is never poisoned");
        match state {
            Some((phase, variant)) => {
                states.insert(key.to_owned(), (phase.to_owned(), variant.to_owned()));
            }
            None => {
                states.remove(key);
            }
        }
        self.storagenodes.reset();
        for (phase, variant) in states.values() {
            self.storagenodes.with_label_values(&[phase, variant]).inc();
        }
    }

    /// The text exposition format for `/metrics`.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding into a Vec cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_results_errors_and_node_counts() {
        let metrics = Metrics::new();
        metrics
            .measure("storagegrid", async { Ok(()) })
            .await
            .unwrap();
        let failed: Result<(), Error> = metrics
            .measure("storagegrid", async {
                Err(Error::Finalizer("stuck".to_owned()))
            })
            .await;
        assert!(failed.is_err());
        metrics.set_storagenode("ns/a", Some(("Ready", "graviton3")));
        metrics.set_storagenode("ns/b", Some(("Ready", "graviton3")));
        metrics.set_storagenode("ns/b", None);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"sutra_grid_reconcile_total{controller="storagegrid",result="success"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"sutra_grid_reconcile_errors_total{controller="storagegrid",error="finalizer"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"sutra_grid_storagenodes{phase="Ready",variant="graviton3"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("sutra_grid_reconcile_time_seconds_count"),
            "{text}"
        );
    }
}
