//! Compiles the start-up guard (`src/cli/cpu_guard.c`) for the architecture baseline.

/// Catalog feature names (config/variants.yaml) and the rustc target features they are.
const CATALOG_FEATURES: [(&str, &str); 16] = [
    ("sse42", "sse4.2"),
    ("avx", "avx"),
    ("avx2", "avx2"),
    ("fma", "fma"),
    ("avx512f", "avx512f"),
    ("avx512bw", "avx512bw"),
    ("avx512vl", "avx512vl"),
    ("avx512dq", "avx512dq"),
    ("avx512cd", "avx512cd"),
    ("avx512vnni", "avx512vnni"),
    ("neon", "neon"),
    ("dotprod", "dotprod"),
    ("i8mm", "i8mm"),
    ("sve", "sve"),
    ("sve2", "sve2"),
    ("lse", "lse"),
];

/// The guard runs from `.preinit_array`, before any code compiled with the variant's
/// target features (see the C file). ELF on Linux only; elsewhere binaries are built for
/// the host they run on.
fn main() {
    println!("cargo:rerun-if-changed=src/cli/cpu_guard.c");
    println!("cargo:rerun-if-env-changed=SUTRA_BUILD_VARIANT");
    println!("cargo:rerun-if-env-changed=SUTRA_BUILD_FALLBACKS");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" {
        return;
    }
    let baseline = match var("CARGO_CFG_TARGET_ARCH").as_str() {
        "x86_64" => "-march=x86-64",
        "aarch64" => "-march=armv8-a",
        _ => return,
    };
    let enabled = var("CARGO_CFG_TARGET_FEATURE");
    let enabled: Vec<&str> = enabled.split(',').collect();
    let compiled: Vec<&str> = CATALOG_FEATURES
        .iter()
        .filter(|(_, rustc)| enabled.contains(rustc))
        .map(|(catalog, _)| *catalog)
        .collect();
    let variant = std::env::var("SUTRA_BUILD_VARIANT").unwrap_or_else(|_| "universal".into());
    let fallbacks = std::env::var("SUTRA_BUILD_FALLBACKS").unwrap_or_else(|_| "universal:".into());
    cc::Build::new()
        .file("src/cli/cpu_guard.c")
        .flag(baseline)
        .define("SUTRA_VARIANT", c_string(&variant).as_str())
        .define(
            "SUTRA_COMPILED_FEATURES",
            c_string(&compiled.join(", ")).as_str(),
        )
        .define("SUTRA_FALLBACKS", c_string(&fallbacks).as_str())
        .compile("sutra_cpu_guard");
    println!("cargo:rustc-link-arg-bins=-Wl,--undefined=sutra_cpu_guard_entry");
}

/// `text` as a C string literal; catalog names and feature lists need no escapes, so any
/// quote or backslash is refused rather than escaped.
fn c_string(text: &str) -> String {
    assert!(
        !text.contains(['"', '\\']),
        "SUTRA_BUILD_VARIANT / SUTRA_BUILD_FALLBACKS: expected catalog names, got {text:?}"
    );
    format!("\"{text}\"")
}
