//! `sutra-grid crds`: the CRD YAML generated from the Rust types.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use sutra_core::crd::{crd_files, generate_crds_yaml};

#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// Write `<plural>.<group>.yaml` files into this directory instead of printing a
    /// multi-document stream.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

/// Prints the CRDs to `out`, or writes them into `--output-dir` and names each file on `out`.
pub fn run(args: &CrdsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    match &args.output_dir {
        None => out
            .write_all(generate_crds_yaml().as_bytes())
            .context("writing CRDs to stdout"),
        Some(dir) => write_files(dir, out),
    }
}

fn write_files(dir: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in crd_files() {
        let path = dir.join(&file.file_name);
        std::fs::write(&path, &file.contents)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_every_crd_as_one_stream() {
        let mut out = Vec::new();
        run(&CrdsArgs { output_dir: None }, &mut out).unwrap();
        let printed = String::from_utf8(out).unwrap();
        assert_eq!(printed, generate_crds_yaml());
        assert!(printed.contains("name: storagegrids.grid.sutra.ai"));
        assert!(printed.contains("name: storagenodes.grid.sutra.ai"));
    }

    #[test]
    fn writes_one_file_per_crd_into_a_new_directory() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("nested/crds");
        let mut out = Vec::new();
        run(
            &CrdsArgs {
                output_dir: Some(dir.clone()),
            },
            &mut out,
        )
        .unwrap();
        for file in crd_files() {
            let written = std::fs::read_to_string(dir.join(&file.file_name)).unwrap();
            assert_eq!(written, file.contents, "{}", file.file_name);
        }
        let report = String::from_utf8(out).unwrap();
        assert_eq!(report.lines().count(), crd_files().len());
    }

    #[test]
    fn reports_an_unwritable_directory() {
        let temp = tempfile::tempdir().unwrap();
        let blocker = temp.path().join("a-file");
        std::fs::write(&blocker, "not a directory").unwrap();
        let args = CrdsArgs {
            output_dir: Some(blocker.join("crds")),
        };
        let error = run(&args, &mut Vec::new()).unwrap_err();
        assert!(format!("{error:#}").contains("a-file/crds"), "{error:#}");
    }
}
