//! The `sutra-storage serve` command line: the contract between the storage node and what
//! starts it — the operator's Pod builder and the local agent's process and Docker backends.
//! One function builds it so the three cannot drift apart; `sutra-storage`'s own tests parse
//! its output with the real argument parser.

use crate::crd::VectorSpec;

/// Where and how one storage node serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeCommand<'a> {
    /// Data directory as the node sees it (`/data` in a container).
    pub data_dir: &'a str,
    pub vector: &'a VectorSpec,
    /// gRPC listen address, e.g. `0.0.0.0:50051`.
    pub grpc_addr: String,
    /// Metrics and probes listen address, e.g. `0.0.0.0:9090`.
    pub metrics_addr: String,
    /// The variant to report as running; `None` lets the binary report the variant it was
    /// built as (the local process backend, which runs whatever was built here).
    pub variant: Option<&'a str>,
    /// The variant rules file the node judges its hardware with (the operator's and the
    /// agent's own table); `None` uses the rules built into the binary.
    pub variant_rules: Option<&'a str>,
}

impl ServeCommand<'_> {
    /// The arguments after the executable: `serve --data ... --dimension ...`.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "serve",
            "--data",
            self.data_dir,
            "--dimension",
            &self.vector.dimension.to_string(),
            "--metric",
            self.vector.metric.as_str(),
            "--compression",
            self.vector.compression.as_str(),
            "--grpc-addr",
            &self.grpc_addr,
            "--metrics-addr",
            &self.metrics_addr,
        ]
        .map(str::to_owned)
        .into();
        if let Some(variant) = self.variant {
            args.extend(["--variant".to_owned(), variant.to_owned()]);
        }
        if let Some(rules) = self.variant_rules {
            args.extend(["--variant-rules".to_owned(), rules.to_owned()]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{Compression, Metric};

    #[test]
    fn spells_every_setting_as_the_storage_cli_takes_it() {
        let vector = VectorSpec {
            dimension: 768,
            metric: Metric::L2,
            compression: Compression::Int8,
        };
        let command = ServeCommand {
            data_dir: "/data",
            vector: &vector,
            grpc_addr: "0.0.0.0:50051".to_owned(),
            metrics_addr: "0.0.0.0:9090".to_owned(),
            variant: Some("graviton3"),
            variant_rules: Some("/etc/sutra-storage/variants.yaml"),
        };
        assert_eq!(
            command.args().join(" "),
            "serve --data /data --dimension 768 --metric l2 --compression int8 \
             --grpc-addr 0.0.0.0:50051 --metrics-addr 0.0.0.0:9090 --variant graviton3 \
             --variant-rules /etc/sutra-storage/variants.yaml"
        );
        let unnamed = ServeCommand {
            variant: None,
            variant_rules: None,
            ..command
        };
        let args = unnamed.args();
        assert!(!args.contains(&"--variant".to_owned()));
        assert!(!args.contains(&"--variant-rules".to_owned()));
    }
}
