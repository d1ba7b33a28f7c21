//! The variant rule table, driven by label sets, plus catalog loading errors and the
//! running-variant verdicts the `VariantMatched` condition is built from.

use std::collections::BTreeMap;
use std::path::Path;

use sutra_core::labels;
use sutra_core::platform::{Arch, FixedProbes, PlatformReport, SimdFeature, detect_from};
use sutra_core::variant::{VariantCatalog, VariantError, host_labels, reason};

/// One row: a label set, the variant it must get, and words the reason must contain.
struct Case {
    name: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    nfd: Vec<&'static str>,
    expect: &'static str,
    reason_has: &'static str,
}

fn case(
    name: &'static str,
    labels: &[(&'static str, &'static str)],
    nfd: &[&'static str],
    expect: &'static str,
    reason_has: &'static str,
) -> Case {
    Case {
        name,
        labels: labels.to_vec(),
        nfd: nfd.to_vec(),
        expect,
        reason_has,
    }
}

const AMD64: (&str, &str) = (labels::ARCH, "amd64");
const ARM64: (&str, &str) = (labels::ARCH, "arm64");

fn instance(value: &'static str) -> (&'static str, &'static str) {
    (labels::INSTANCE_TYPE, value)
}

fn pi(value: &'static str) -> (&'static str, &'static str) {
    (labels::PI_MODEL, value)
}

fn core(value: &'static str) -> (&'static str, &'static str) {
    (labels::CPU_CORE, value)
}

const AVX2_HOST: [&str; 3] = ["AVX", "AVX2", "FMA3"];
const AVX512_HOST: [&str; 8] = [
    "AVX", "AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512VL", "AVX512DQ", "AVX512CD",
];
const N1_HOST: [&str; 3] = ["ASIMD", "ASIMDDP", "ATOMICS"];
const V1_HOST: [&str; 5] = ["ASIMD", "ASIMDDP", "ATOMICS", "SVE", "I8MM"];

fn label_set(case: &Case) -> BTreeMap<String, String> {
    let mut set: BTreeMap<String, String> = case
        .labels
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    for feature in &case.nfd {
        set.insert(
            format!("{}{feature}", labels::NFD_CPUID_PREFIX),
            "true".into(),
        );
    }
    set
}

fn cases() -> Vec<Case> {
    vec![
        // Unknown or missing arch.
        case(
            "no labels at all",
            &[],
            &[],
            "universal",
            "no kubernetes.io/arch",
        ),
        case(
            "riscv64",
            &[(labels::ARCH, "riscv64")],
            &[],
            "universal",
            "riscv64",
        ),
        case(
            "s390x with AVX labels",
            &[(labels::ARCH, "s390x")],
            &AVX2_HOST,
            "universal",
            "s390x",
        ),
        case("bare amd64", &[AMD64], &[], "universal", "amd64-default"),
        case("bare arm64", &[ARM64], &[], "universal", "arm64-default"),
        // NFD features on amd64.
        case(
            "amd64 with AVX2",
            &[AMD64],
            &AVX2_HOST,
            "x86-64-v3",
            "nfd-avx2",
        ),
        case(
            "amd64 with AVX-512",
            &[AMD64],
            &AVX512_HOST,
            "x86-64-v4",
            "nfd-avx512",
        ),
        case(
            "amd64 with AVX512F only",
            &[AMD64],
            &["AVX", "AVX2", "FMA3", "AVX512F"],
            "x86-64-v3",
            "nfd-avx2",
        ),
        case(
            "amd64 with AVX2 but no FMA",
            &[AMD64],
            &["AVX", "AVX2"],
            "universal",
            "amd64-default",
        ),
        // Instance types.
        case(
            "m6i without NFD",
            &[AMD64, instance("m6i.2xlarge")],
            &[],
            "x86-64-v4",
            "aws-avx512-instance",
        ),
        case(
            "m6i whose hypervisor hides AVX-512",
            &[AMD64, instance("m6i.2xlarge")],
            &AVX2_HOST,
            "x86-64-v3",
            "x86-64-v4 needs avx512f",
        ),
        case(
            "c6a",
            &[AMD64, instance("c6a.xlarge")],
            &[],
            "x86-64-v3",
            "aws-avx2-instance",
        ),
        case(
            "t2 is not in any family",
            &[AMD64, instance("t2.micro")],
            &[],
            "universal",
            "amd64-default",
        ),
        case(
            "c6g",
            &[ARM64, instance("c6g.large")],
            &[],
            "graviton2",
            "aws-graviton2-instance",
        ),
        case(
            "m6gd",
            &[ARM64, instance("m6gd.xlarge")],
            &[],
            "graviton2",
            "aws-graviton2-instance",
        ),
        case(
            "r6g",
            &[ARM64, instance("r6g.4xlarge")],
            &[],
            "graviton2",
            "aws-graviton2-instance",
        ),
        case(
            "c7g",
            &[ARM64, instance("c7g.large")],
            &[],
            "graviton3",
            "aws-graviton3-instance",
        ),
        case(
            "m7g",
            &[ARM64, instance("m7g.medium")],
            &[],
            "graviton3",
            "aws-graviton3-instance",
        ),
        case(
            "r7g",
            &[ARM64, instance("r7g.2xlarge")],
            &[],
            "graviton3",
            "aws-graviton3-instance",
        ),
        case(
            "c8g",
            &[ARM64, instance("c8g.large")],
            &[],
            "graviton4",
            "aws-graviton4-instance",
        ),
        case(
            "m8g",
            &[ARM64, instance("m8g.xlarge")],
            &[],
            "graviton4",
            "aws-graviton4-instance",
        ),
        case(
            "r8g",
            &[ARM64, instance("r8g.xlarge")],
            &[],
            "graviton4",
            "aws-graviton4-instance",
        ),
        case(
            "family without size",
            &[ARM64, instance("c7g")],
            &[],
            "graviton3",
            "aws-graviton3-instance",
        ),
        // Instance type says more than the CPU labels show: fall back, never crash.
        case(
            "r7g whose NFD labels lack SVE",
            &[ARM64, instance("r7g.large")],
            &N1_HOST,
            "graviton2",
            "graviton3 needs i8mm, sve which the NFD labels do not show, falling back to graviton2",
        ),
        case(
            "r8g whose NFD labels lack SVE2",
            &[ARM64, instance("r8g.large")],
            &V1_HOST,
            "graviton3",
            "graviton4 needs sve2",
        ),
        case(
            "c8g with bare NEON walks the whole chain",
            &[ARM64, instance("c8g.large")],
            &["ASIMD"],
            "universal",
            "graviton2 needs dotprod, lse",
        ),
        case(
            "r7g with matching NFD labels",
            &[ARM64, instance("r7g.large")],
            &V1_HOST,
            "graviton3",
            "aws-graviton3-instance",
        ),
        // Raspberry Pi.
        case("pi 5", &[ARM64, pi("5")], &[], "pi5", "raspberry-pi-5"),
        case("pi 4", &[ARM64, pi("4")], &[], "pi4", "raspberry-pi-4"),
        case(
            "pi 3 has no variant",
            &[ARM64, pi("3")],
            &[],
            "universal",
            "arm64-default",
        ),
        case(
            "pi 5 labels without dotprod",
            &[ARM64, pi("5")],
            &["ASIMD"],
            "pi4",
            "pi5 needs dotprod, lse",
        ),
        case(
            "pi label wins over instance type",
            &[ARM64, pi("5"), instance("c7g.large")],
            &[],
            "pi5",
            "raspberry-pi-5",
        ),
        // CPU core label (local hosts without DMI, or set by an admin).
        case(
            "neoverse-v1 core",
            &[ARM64, core("neoverse-v1")],
            &[],
            "graviton3",
            "neoverse-v1-core",
        ),
        case(
            "neoverse-n1 core",
            &[ARM64, core("neoverse-n1")],
            &[],
            "graviton2",
            "neoverse-n1-core",
        ),
        case(
            "cortex-a76 core",
            &[ARM64, core("cortex-a76")],
            &[],
            "pi5",
            "cortex-a76-core",
        ),
        case(
            "cortex-a53 core",
            &[ARM64, core("cortex-a53")],
            &["ASIMD"],
            "universal",
            "arm64-default",
        ),
        // Conflicting labels: the arch label wins and the reason says so.
        case(
            "amd64 with r7g",
            &[AMD64, instance("r7g.large")],
            &[],
            "universal",
            "arch wins",
        ),
        case(
            "amd64 with pi 5",
            &[AMD64, pi("5")],
            &[],
            "universal",
            "arch wins",
        ),
        case(
            "amd64 with r7g and AVX2",
            &[AMD64, instance("r7g.large")],
            &AVX2_HOST,
            "x86-64-v3",
            "arch wins",
        ),
        case(
            "arm64 with m6i",
            &[ARM64, instance("m6i.large")],
            &[],
            "universal",
            "arch wins",
        ),
        case(
            "arm64 with AVX-512 labels",
            &[ARM64],
            &AVX512_HOST,
            "universal",
            "arm64-default",
        ),
    ]
}

#[test]
fn every_rule_row_picks_the_expected_variant_for_the_right_reason() {
    let catalog = VariantCatalog::builtin();
    for case in cases() {
        let selection = catalog.select(&label_set(&case));
        assert_eq!(
            selection.variant, case.expect,
            "{}: {}",
            case.name, selection.reason
        );
        assert!(
            selection.reason.contains(case.reason_has),
            "{}: reason {:?} lacks {:?}",
            case.name,
            selection.reason,
            case.reason_has
        );
    }
}

/// The safety property behind every row: the picked variant is built for the labelled arch
/// and, when NFD labels are present, needs no feature they do not show.
#[test]
fn no_row_picks_a_variant_the_labels_say_would_crash() {
    let catalog = VariantCatalog::builtin();
    for case in cases() {
        let set = label_set(&case);
        let picked = catalog.get(&catalog.select(&set).variant).unwrap();
        let arch = set.get(labels::ARCH).map(|value| Arch::from_name(value));
        if let Some(own) = picked.arch {
            assert_eq!(Some(own), arch, "{}", case.name);
        }
        if case.nfd.is_empty() {
            continue;
        }
        for feature in &picked.requires {
            assert!(
                !feature.nfd_published_by_default() || case.nfd.contains(&feature.nfd_name()),
                "{}: {} needs {}",
                case.name,
                picked.name,
                feature.name()
            );
        }
    }
}

#[test]
fn nfd_label_set_to_false_does_not_count() {
    let mut set = label_set(&case("", &[AMD64], &AVX2_HOST, "", ""));
    set.insert(format!("{}AVX2", labels::NFD_CPUID_PREFIX), "false".into());
    assert_eq!(VariantCatalog::builtin().select(&set).variant, "universal");
}

#[test]
fn builtin_fallback_chains_are_the_documented_ones() {
    let catalog = VariantCatalog::builtin();
    let chain = |name: &str| -> Vec<String> {
        catalog
            .fallback_chain(name)
            .into_iter()
            .map(|variant| variant.name.clone())
            .collect()
    };
    assert_eq!(chain("x86-64-v4"), ["x86-64-v4", "x86-64-v3", "universal"]);
    assert_eq!(
        chain("graviton4"),
        ["graviton4", "graviton3", "graviton2", "universal"]
    );
    assert_eq!(chain("pi5"), ["pi5", "pi4", "universal"]);
    assert_eq!(chain("universal"), ["universal"]);
    assert!(chain("nonexistent").is_empty());
}

/// The catalog's build settings as the loader reads them; the RUSTFLAGS built from them are
/// scripts/catalog.py's, tested in scripts/tests/test_catalog.py.
#[test]
fn builtin_variants_carry_their_build_settings() {
    let catalog = VariantCatalog::builtin();
    let expected: [(&str, Option<&str>, &[&str]); 7] = [
        ("universal", None, &[]),
        ("x86-64-v4", Some("x86-64-v4"), &[]),
        (
            "graviton3",
            Some("neoverse-v1"),
            &["+neon", "+dotprod", "+lse", "+sve", "+i8mm"],
        ),
        ("pi4", Some("cortex-a72"), &["+neon"]),
        ("pi5", Some("cortex-a76"), &["+neon", "+dotprod", "+lse"]),
        (
            "graviton2",
            Some("neoverse-n1"),
            &["+neon", "+dotprod", "+lse"],
        ),
        (
            "graviton4",
            Some("neoverse-v2"),
            &["+neon", "+dotprod", "+lse", "+sve", "+sve2", "+i8mm"],
        ),
    ];
    for (name, cpu, features) in expected {
        let variant = catalog.get(name).unwrap();
        assert_eq!(variant.target_cpu.as_deref(), cpu, "{name}");
        assert_eq!(variant.target_features, features, "{name}");
    }
}

const MINIMAL: &str = "
variants:
  - name: universal
    arch: any
";

/// A catalog error for `yaml`, which must fail to load.
fn load_error(yaml: &str) -> String {
    match VariantCatalog::from_yaml(yaml) {
        Ok(_) => panic!("catalog loaded but should not:\n{yaml}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn bad_catalogs_are_rejected_with_an_error_naming_the_problem() {
    let rows: [(&str, &str, &str); 17] = [
        ("not yaml", "variants: [", "not valid YAML"),
        ("wrong shape", "variants: 3", "not valid YAML"),
        (
            "misspelt field",
            "variants:\n  - name: universal\n    arch: any\n    requries: []\n",
            "requries",
        ),
        (
            "no universal",
            "variants:\n  - name: pi4\n    arch: arm64\n",
            "no `universal` variant",
        ),
        (
            "universal needs features",
            "variants:\n  - name: universal\n    arch: any\n    requires: [neon]\n",
            "must run everywhere",
        ),
        (
            "duplicate variant",
            "variants:\n  - {name: universal, arch: any}\n  - {name: universal, arch: any}\n",
            "\"universal\" is defined more than once",
        ),
        (
            "bad name",
            "variants:\n  - {name: universal, arch: any}\n  - {name: Graviton_3, arch: arm64, fallback: universal}\n",
            "\"Graviton_3\" is invalid",
        ),
        (
            "unknown arch",
            "variants:\n  - {name: universal, arch: any}\n  - {name: rv, arch: riscv64, fallback: universal}\n",
            "unknown arch \"riscv64\"",
        ),
        (
            "unknown feature",
            "variants:\n  - {name: universal, arch: any}\n  - {name: big, arch: amd64, requires: [avx1024], fallback: universal}\n",
            "unknown feature \"avx1024\"",
        ),
        (
            "feature of another arch",
            "variants:\n  - {name: universal, arch: any}\n  - {name: odd, arch: amd64, requires: [sve], fallback: universal}\n",
            "requires feature \"sve\", which its arch does not have",
        ),
        (
            "unknown fallback",
            "variants:\n  - {name: universal, arch: any}\n  - {name: g3, arch: arm64, fallback: g2}\n",
            "falls back to unknown variant \"g2\"",
        ),
        (
            "fallback cycle",
            "variants:\n  - {name: universal, arch: any}\n  - {name: a, arch: arm64, fallback: b}\n  - {name: b, arch: arm64, fallback: a}\n",
            "loops back",
        ),
        (
            "chain not ending at universal",
            "variants:\n  - {name: universal, arch: any}\n  - {name: a, arch: arm64}\n",
            "ends at \"a\"",
        ),
        (
            "fallback needing more than its parent",
            "variants:\n  - {name: universal, arch: any}\n  - {name: v3, arch: amd64, requires: [avx2], fallback: v4}\n  - {name: v4, arch: amd64, requires: [avx2, avx512f], fallback: universal}\n",
            "requires avx512f",
        ),
        (
            "fallback to another arch",
            "variants:\n  - {name: universal, arch: any}\n  - {name: x, arch: amd64, fallback: y}\n  - {name: y, arch: arm64, fallback: universal}\n",
            "built for another arch",
        ),
        (
            "rule names unknown variant",
            "variants:\n  - {name: universal, arch: any}\nrules:\n  - {name: r, variant: graviton9}\n",
            "rule \"r\" names unknown variant \"graviton9\"",
        ),
        (
            "rule names unknown NFD feature",
            "variants:\n  - {name: universal, arch: any}\nrules:\n  - {name: r, variant: universal, when: {nfdFeatures: [AVX3]}}\n",
            "unknown NFD feature \"AVX3\"",
        ),
    ];
    for (name, yaml, expected) in rows {
        let error = load_error(yaml);
        assert!(
            error.contains(expected),
            "{name}: {error:?} lacks {expected:?}"
        );
    }
}

#[test]
fn duplicate_rule_names_are_rejected() {
    let yaml = format!(
        "{MINIMAL}rules:\n  - {{name: r, variant: universal}}\n  - {{name: r, variant: universal}}\n"
    );
    assert!(matches!(
        VariantCatalog::from_yaml(&yaml),
        Err(VariantError::DuplicateRule(name)) if name == "r"
    ));
}

#[test]
fn a_user_catalog_adds_a_platform_without_recompiling() {
    let yaml = format!(
        "{}\n  - name: ampere-one\n    arch: arm64\n    requires: [neon, dotprod, lse, i8mm]\n    targetCpu: ampere1\n    fallback: graviton2\n",
        sutra_core::variant::BUILTIN_YAML
            .split("\nrules:")
            .next()
            .unwrap()
    );
    let rules = "rules:\n  - name: ampere-one-core\n    variant: ampere-one\n    when:\n      labels: {feature.node.kubernetes.io/cpu-model.vendor_id: Ampere}\n";
    let catalog = VariantCatalog::from_yaml(&format!("{yaml}\n{rules}")).unwrap();
    let node: BTreeMap<String, String> =
        [(labels::ARCH, "arm64"), (labels::NFD_CPU_VENDOR, "Ampere")]
            .into_iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
    let selection = catalog.select(&node);
    assert_eq!(selection.variant, "ampere-one");
    assert_eq!(selection.rule.as_deref(), Some("ampere-one-core"));
}

fn fixture_report(host: &str) -> PlatformReport {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hosts")
        .join(host);
    let probes: FixedProbes =
        serde_json::from_str(&std::fs::read_to_string(dir.join("probes.json")).unwrap()).unwrap();
    detect_from(&dir, &probes)
}

#[test]
fn a_detected_host_becomes_the_labels_a_node_would_carry() {
    let labels_of = |host: &str| -> Vec<(String, String)> {
        host_labels(&fixture_report(host)).into_iter().collect()
    };
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    };
    assert_eq!(
        labels_of("graviton3"),
        owned(&[
            ("feature.node.kubernetes.io/cpu-cpuid.ASIMD", "true"),
            ("feature.node.kubernetes.io/cpu-cpuid.ASIMDDP", "true"),
            ("feature.node.kubernetes.io/cpu-cpuid.ATOMICS", "true"),
            ("feature.node.kubernetes.io/cpu-cpuid.I8MM", "true"),
            ("feature.node.kubernetes.io/cpu-cpuid.SVE", "true"),
            ("feature.node.kubernetes.io/cpu-model.vendor_id", "ARM"),
            ("grid.sutra.ai/cpu-core", "neoverse-v1"),
            ("kubernetes.io/arch", "arm64"),
            ("node.kubernetes.io/instance-type", "m7g.xlarge"),
        ])
    );
    // NFD hides SSE4.2 by default, so a local host does not show it either.
    assert_eq!(
        labels_of("amd-epyc-avx2"),
        owned(&[
            ("feature.node.kubernetes.io/cpu-cpuid.AVX", "true"),
            ("feature.node.kubernetes.io/cpu-cpuid.AVX2", "true"),
            ("feature.node.kubernetes.io/cpu-cpuid.FMA3", "true"),
            ("feature.node.kubernetes.io/cpu-model.vendor_id", "AMD"),
            ("kubernetes.io/arch", "amd64"),
        ])
    );
    assert_eq!(
        labels_of("raspberry-pi-5"),
        owned(&[
            ("feature.node.kubernetes.io/cpu-cpuid.ASIMD", "true"),
            ("feature.node.kubernetes.io/cpu-cpuid.ASIMDDP", "true"),
            ("feature.node.kubernetes.io/cpu-cpuid.ATOMICS", "true"),
            ("feature.node.kubernetes.io/cpu-model.vendor_id", "ARM"),
            ("grid.sutra.ai/cpu-core", "cortex-a76"),
            ("grid.sutra.ai/pi-model", "5"),
            ("kubernetes.io/arch", "arm64"),
        ])
    );
}

#[test]
fn a_graviton3_without_dmi_is_still_identified_by_its_core() {
    let mut report = fixture_report("graviton3");
    report.instance_type = None;
    let selection = VariantCatalog::builtin().best_for_host(&report);
    assert_eq!(selection.variant, "graviton3");
    assert_eq!(selection.rule.as_deref(), Some("neoverse-v1-core"));
}

#[test]
fn missing_features_lists_what_the_cpu_lacks() {
    let catalog = VariantCatalog::builtin();
    let epyc = fixture_report("amd-epyc-avx2");
    use SimdFeature::*;
    assert_eq!(
        catalog.missing_features("x86-64-v4", &epyc),
        [Avx512f, Avx512bw, Avx512vl, Avx512dq, Avx512cd]
    );
    assert!(catalog.missing_features("x86-64-v3", &epyc).is_empty());
    assert_eq!(
        catalog.missing_features("graviton4", &fixture_report("graviton3")),
        [Sve2]
    );
    assert_eq!(
        catalog.missing_features("pi5", &fixture_report("raspberry-pi-4")),
        [Dotprod, Lse]
    );
}

#[test]
fn running_variant_verdicts() {
    let catalog = VariantCatalog::builtin();
    let rows: [(&str, &str, bool, &str, &str); 9] = [
        (
            "graviton3",
            "graviton3",
            true,
            reason::BEST_VARIANT,
            "graviton3",
        ),
        (
            "graviton3",
            "graviton2",
            true,
            reason::ALLOWED_FALLBACK,
            "graviton3",
        ),
        (
            "graviton3",
            "universal",
            true,
            reason::ALLOWED_FALLBACK,
            "graviton3",
        ),
        (
            "graviton3",
            "graviton4",
            false,
            reason::MISSING_FEATURES,
            "graviton3",
        ),
        (
            "graviton2",
            "pi5",
            false,
            reason::BETTER_VARIANT_AVAILABLE,
            "graviton2",
        ),
        (
            "graviton2",
            "x86-64-v3",
            false,
            reason::MISSING_FEATURES,
            "graviton2",
        ),
        (
            "raspberry-pi-4",
            "pi5",
            false,
            reason::MISSING_FEATURES,
            "pi4",
        ),
        (
            "intel-xeon-avx512",
            "x86-64-v3",
            true,
            reason::ALLOWED_FALLBACK,
            "x86-64-v4",
        ),
        (
            "intel-xeon-avx512",
            "ampere-one",
            false,
            reason::UNKNOWN_VARIANT,
            "x86-64-v4",
        ),
    ];
    for (host, running, matched, why, best) in rows {
        let verdict = catalog.evaluate(running, &fixture_report(host));
        assert_eq!(
            (
                verdict.matched,
                verdict.reason.as_str(),
                verdict.best.as_str()
            ),
            (matched, why, best),
            "{running} on {host}: {}",
            verdict.message
        );
        assert_eq!(verdict.running, running);
        assert!(verdict.message.contains(best), "{}", verdict.message);
    }
}

#[test]
fn missing_features_verdict_names_the_features() {
    let verdict = VariantCatalog::builtin().evaluate("graviton4", &fixture_report("graviton3"));
    assert!(
        verdict.message.contains("needs sve2"),
        "{}",
        verdict.message
    );
}
