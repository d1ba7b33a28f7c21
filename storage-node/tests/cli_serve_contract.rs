//! The command line the operator and the local agent build for a node
//! (`sutra_core::serve::ServeCommand`) is accepted by this binary's own parser, every value
//! read back as written, for every metric and compression setting.

use std::path::PathBuf;

use clap::Parser;
use sutra_core::crd::VectorSpec;
use sutra_core::serve::ServeCommand;
use sutra_core::vector::{Compression, Metric};
use sutra_storage::cli::{Cli, Command};

fn parse(command: &ServeCommand) -> sutra_storage::cli::ServeArgs {
    let argv = std::iter::once("sutra-storage".to_owned()).chain(command.args());
    match Cli::try_parse_from(argv)
        .expect("sutra-storage accepts the serve command")
        .command
    {
        Command::Serve(args) => *args,
        other => panic!("parsed as {other:?}, expected serve"),
    }
}

#[test]
fn every_setting_parses_back_to_what_was_written() {
    let metrics = [Metric::Cosine, Metric::Dot, Metric::L2];
    let compressions = [Compression::Auto, Compression::None, Compression::Int8];
    for metric in metrics {
        for compression in compressions {
            let vector = VectorSpec {
                dimension: 1536,
                metric,
                compression,
            };
            let command = ServeCommand {
                data_dir: "/data",
                vector: &vector,
                grpc_addr: "0.0.0.0:50051".to_owned(),
                metrics_addr: "127.0.0.1:9090".to_owned(),
                variant: Some("x86-64-v3"),
                variant_rules: Some("/etc/sutra-storage/variants.yaml"),
            };
            let args = parse(&command);
            assert_eq!(args.data, Some(PathBuf::from("/data")));
            assert_eq!(args.dimension, Some(1536));
            assert_eq!(args.metric, Some(metric));
            assert_eq!(args.compression, Some(compression));
            assert_eq!(args.grpc_addr, Some("0.0.0.0:50051".parse().unwrap()));
            assert_eq!(args.metrics_addr, Some("127.0.0.1:9090".parse().unwrap()));
            assert_eq!(args.variant.as_deref(), Some("x86-64-v3"));
            assert_eq!(
                args.variant_rules,
                Some(PathBuf::from("/etc/sutra-storage/variants.yaml"))
            );
        }
    }
}

#[test]
fn without_a_variant_the_binary_keeps_its_own() {
    let vector = VectorSpec::with_dimension(8);
    let command = ServeCommand {
        data_dir: "./data",
        vector: &vector,
        grpc_addr: "127.0.0.1:0".to_owned(),
        metrics_addr: "127.0.0.1:0".to_owned(),
        variant: None,
        variant_rules: None,
    };
    assert_eq!(parse(&command).variant, None);
    assert_eq!(parse(&command).variant_rules, None);
}
