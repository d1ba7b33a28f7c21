//! From raw flags to [`SimdFeature`]s and the x86-64 microarchitecture level.

use std::collections::BTreeSet;

use super::model::{Arch, SimdFeature};

/// How each feature we track is named: by Linux in `/proc/cpuinfo` (x86 `flags`, arm64
/// `Features`, the HWCAP names), and by macOS as `hw.optional.*` sysctls set to 1 (Apple
/// names NEON two ways). One row per feature, so the two spellings cannot drift apart; a
/// feature's architecture says which `/proc/cpuinfo` list its Linux name belongs to.
const NAMES: [(SimdFeature, &str, &[&str]); 16] = [
    (SimdFeature::Sse42, "sse4_2", &["hw.optional.sse4_2"]),
    (SimdFeature::Avx, "avx", &["hw.optional.avx1_0"]),
    (SimdFeature::Avx2, "avx2", &["hw.optional.avx2_0"]),
    (SimdFeature::Fma, "fma", &["hw.optional.fma"]),
    (SimdFeature::Avx512f, "avx512f", &["hw.optional.avx512f"]),
    (SimdFeature::Avx512bw, "avx512bw", &["hw.optional.avx512bw"]),
    (SimdFeature::Avx512vl, "avx512vl", &["hw.optional.avx512vl"]),
    (SimdFeature::Avx512dq, "avx512dq", &["hw.optional.avx512dq"]),
    (SimdFeature::Avx512cd, "avx512cd", &["hw.optional.avx512cd"]),
    (
        SimdFeature::Avx512vnni,
        "avx512_vnni",
        &["hw.optional.avx512vnni"],
    ),
    (
        SimdFeature::Neon,
        "asimd",
        &["hw.optional.AdvSIMD", "hw.optional.neon"],
    ),
    (
        SimdFeature::Dotprod,
        "asimddp",
        &["hw.optional.arm.FEAT_DotProd"],
    ),
    (SimdFeature::I8mm, "i8mm", &["hw.optional.arm.FEAT_I8MM"]),
    (SimdFeature::Sve, "sve", &["hw.optional.arm.FEAT_SVE"]),
    (SimdFeature::Sve2, "sve2", &["hw.optional.arm.FEAT_SVE2"]),
    (SimdFeature::Lse, "atomics", &["hw.optional.arm.FEAT_LSE"]),
];

/// Features `arch`'s kernel names in `/proc/cpuinfo` (x86 `flags`, arm64 `Features`),
/// sorted; none for another architecture.
pub fn simd_from_linux_flags(arch: Arch, flags: &[String]) -> Vec<SimdFeature> {
    features_where(|feature, linux, _| {
        feature.arch() == arch && flags.iter().any(|flag| flag == linux)
    })
}

/// Features among the macOS `hw.optional.*` names that are set, sorted.
pub fn simd_from_macos_optionals(enabled: &[String]) -> Vec<SimdFeature> {
    features_where(|_, _, macos| macos.iter().any(|name| enabled.iter().any(|e| e == name)))
}

/// The features of the rows `named` picks, sorted and deduplicated.
fn features_where(named: impl Fn(SimdFeature, &str, &[&str]) -> bool) -> Vec<SimdFeature> {
    let found: BTreeSet<SimdFeature> = NAMES
        .iter()
        .filter(|(feature, linux, macos)| named(*feature, linux, macos))
        .map(|(feature, _, _)| *feature)
        .collect();
    found.into_iter().collect()
}

/// The x86 flag that stands for `feature` (used to drop flags the OS does not enable).
pub fn x86_flag_of(feature: SimdFeature) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(known, _, _)| *known == feature && known.arch() == Arch::Amd64)
        .map(|(_, flag, _)| *flag)
}

/// Linux flag names for each psABI level's additions. Linux prints SSE3 as `pni` and
/// LZCNT as `abm`; OSXSAVE is implied by the kernel printing `avx` at all.
const X86_64_LEVELS: [&[&str]; 4] = [
    &[
        "cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse", "sse2",
    ],
    &[
        "cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3",
    ],
    &[
        "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave",
    ],
    &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"],
];

/// The x86-64 psABI microarchitecture level (1..=4) the flags satisfy: the highest level
/// whose features, and those of every lower level, are all present. Every x86-64 CPU is at
/// least level 1, even when its flags were not readable.
pub fn x86_64_level(flags: &[String]) -> u8 {
    let has = |flag: &&str| flags.iter().any(|present| present == flag);
    let satisfied = X86_64_LEVELS
        .iter()
        .take_while(|level| level.iter().all(has))
        .count();
    u8::try_from(satisfied.max(1)).expect("at most four levels")
}

/// The x86-64 level from tracked SIMD features alone, for macOS where no Linux flag list
/// exists. Coarser than [`x86_64_level`]: it assumes the non-SIMD parts of each level
/// (BMI, MOVBE, ...) come with the SIMD ones, as they do on every Intel Mac.
pub fn x86_64_level_from_simd(simd: &[SimdFeature]) -> u8 {
    use SimdFeature::*;
    let has_all = |features: &[SimdFeature]| features.iter().all(|f| simd.contains(f));
    if has_all(&[
        Avx512f, Avx512bw, Avx512cd, Avx512dq, Avx512vl, Avx2, Fma, Avx,
    ]) {
        4
    } else if has_all(&[Avx2, Fma, Avx, Sse42]) {
        3
    } else if has_all(&[Sse42]) {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    const V2: &str =
        "fpu cx8 cmov mmx fxsr sse sse2 syscall pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm";
    const V3_EXTRA: &str = "avx avx2 bmi1 bmi2 f16c fma abm movbe xsave";
    const V4_EXTRA: &str = "avx512f avx512bw avx512cd avx512dq avx512vl";

    #[test]
    fn levels_follow_the_psabi_feature_lists() {
        assert_eq!(x86_64_level(&words(V2)), 2);
        assert_eq!(x86_64_level(&words(&format!("{V2} {V3_EXTRA}"))), 3);
        assert_eq!(
            x86_64_level(&words(&format!("{V2} {V3_EXTRA} {V4_EXTRA}"))),
            4
        );
    }

    #[test]
    fn one_missing_feature_caps_the_level() {
        let no_movbe = format!("{V2} {V3_EXTRA} {V4_EXTRA}").replace("movbe", "");
        assert_eq!(x86_64_level(&words(&no_movbe)), 2);
    }

    #[test]
    fn avx512_without_the_lower_levels_is_still_level_one() {
        assert_eq!(x86_64_level(&words(V4_EXTRA)), 1);
        assert_eq!(x86_64_level(&[]), 1);
    }

    #[test]
    fn feature_names_map_per_architecture() {
        assert_eq!(
            simd_from_linux_flags(Arch::Amd64, &words("sse4_2 avx2 avx512_vnni asimd")),
            [
                SimdFeature::Sse42,
                SimdFeature::Avx2,
                SimdFeature::Avx512vnni
            ]
        );
        assert_eq!(
            simd_from_linux_flags(Arch::Arm64, &words("fp asimd asimddp atomics sve2 avx2")),
            [
                SimdFeature::Neon,
                SimdFeature::Dotprod,
                SimdFeature::Sve2,
                SimdFeature::Lse
            ]
        );
        assert!(simd_from_linux_flags(Arch::Other, &words("avx2 asimd")).is_empty());
        assert_eq!(x86_flag_of(SimdFeature::Avx512vnni), Some("avx512_vnni"));
        assert_eq!(x86_flag_of(SimdFeature::Neon), None);
    }
}
