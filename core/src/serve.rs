//! The `sutra-storage serve` command line that the operator's Pod builder and the local
//! agent's process and Docker backends start a storage node with. Building it here fixes the
//! flag names and value spellings for all three; each caller still chooses the values (data
//! directory, addresses, variant, rules file) for where its node runs. `sutra-storage`'s
//! tests parse the output with its real argument parser (`tests/cli_serve_contract.rs`).

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
    /// `--variant`, the variant the node reports as running. `None` passes no flag: the node
    /// then takes `SUTRA_VARIANT`, its config file, or else the variant its binary was built
    /// as (what the local process backend wants, as it runs whatever was built here).
    pub variant: Option<&'a str>,
    /// `--variant-rules`, the rules file the node judges its hardware with (the operator's or
    /// the agent's table). `None` passes no flag: the node then takes `SUTRA_VARIANT_RULES`,
    /// its config file, or else the rules built into the binary.
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
    use crate::vector::{Compression, Metric};

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
