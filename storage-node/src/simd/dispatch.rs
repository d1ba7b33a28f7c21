//! Which kernel family serves which table entry: pure decisions, tested on every architecture.
//!
//! The CPU is probed once ([`CpuFeatures::detect`]); [`plan`] turns the probe into one
//! [`Isa`] per entry of the dispatch table, following preference orders that were measured
//! with `cargo bench -p sutra-storage --bench kernels` (numbers in `docs/PERFORMANCE.md`).

/// The instruction-set features the kernels care about. Fields of the other architecture
/// stay `false`, so one struct describes any host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    pub avx2: bool,
    pub fma: bool,
    pub avx512f: bool,
    pub avx512bw: bool,
    pub avx512vl: bool,
    pub avx512vnni: bool,
    pub neon: bool,
    pub dotprod: bool,
    pub sve: bool,
    /// SVE vector length in bytes (16 to 256), 0 without SVE.
    pub sve_vector_bytes: u32,
}

impl CpuFeatures {
    /// Probes the running CPU (cpuid / OS-reported hwcaps through the std detection macros).
    #[cfg(target_arch = "x86_64")]
    pub fn detect() -> Self {
        CpuFeatures {
            avx2: is_x86_feature_detected!("avx2"),
            fma: is_x86_feature_detected!("fma"),
            avx512f: is_x86_feature_detected!("avx512f"),
            avx512bw: is_x86_feature_detected!("avx512bw"),
            avx512vl: is_x86_feature_detected!("avx512vl"),
            avx512vnni: is_x86_feature_detected!("avx512vnni"),
            ..CpuFeatures::default()
        }
    }

    /// Probes the running CPU (HWCAP through the std detection macros, the SVE vector
    /// length through the platform detection's prctl probe).
    #[cfg(target_arch = "aarch64")]
    pub fn detect() -> Self {
        use sutra_core::platform::{LiveProbes, Probes};
        CpuFeatures {
            neon: std::arch::is_aarch64_feature_detected!("neon"),
            dotprod: std::arch::is_aarch64_feature_detected!("dotprod"),
            sve: std::arch::is_aarch64_feature_detected!("sve"),
            sve_vector_bytes: LiveProbes.sve_vector_bytes().unwrap_or(0),
            ..CpuFeatures::default()
        }
    }

    /// Other architectures only get the scalar kernels.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub fn detect() -> Self {
        CpuFeatures::default()
    }
}

/// A kernel family: one set of kernels written for one instruction-set level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    Scalar,
    /// 256-bit AVX2 with FMA; int8 via `vpmovsxbw` + `vpmaddwd`.
    Avx2Fma,
    /// 512-bit AVX-512 F/BW/VL; int8 via `vpmovsxbw` + `vpmaddwd` on 32 lanes.
    Avx512,
    /// AVX-512 plus VNNI; int8 via `vpdpbusd` (f32 kernels are the `Avx512` ones).
    Avx512Vnni,
    /// 128-bit NEON; int8 via widening multiplies (`smull` + `sadalp`).
    Neon,
    /// NEON plus the dot-product extension; int8 via `sdot` (f32 kernels are the `Neon` ones).
    NeonDotprod,
    /// SVE at whatever vector length the CPU has (predicated loops, no scalar tail); int8 via
    /// SVE's `sdot`, which every SVE CPU has.
    Sve,
}

impl Isa {
    /// Every family, narrowest first.
    pub const ALL: [Isa; 7] = [
        Isa::Scalar,
        Isa::Avx2Fma,
        Isa::Avx512,
        Isa::Avx512Vnni,
        Isa::Neon,
        Isa::NeonDotprod,
        Isa::Sve,
    ];

    /// The name reported in `Kernels::isa`, logs and benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2Fma => "avx2+fma",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512-vnni",
            Isa::Neon => "neon",
            Isa::NeonDotprod => "neon-dotprod",
            Isa::Sve => "sve",
        }
    }

    /// Whether every instruction the family uses is available on a CPU with `features`.
    pub fn runs_on(self, features: &CpuFeatures) -> bool {
        let f = features;
        match self {
            Isa::Scalar => true,
            Isa::Avx2Fma => f.avx2 && f.fma,
            Isa::Avx512 => f.avx512f && f.avx512bw && f.avx512vl,
            Isa::Avx512Vnni => Isa::Avx512.runs_on(f) && f.avx512vnni,
            Isa::Neon => f.neon,
            Isa::NeonDotprod => f.neon && f.dotprod,
            Isa::Sve => f.sve,
        }
    }

    /// Whether dispatch may pick the family on a CPU with `features`: it runs there and,
    /// for SVE, its vectors are wider than NEON's 16 bytes. At 128 bits (Neoverse N2 and
    /// V2, Graviton4) an SVE instruction does the same work as its NEON twin and the
    /// loops add predicate bookkeeping, so SVE brings nothing over the NEON kernels there.
    /// Tests and benchmarks still run SVE on such CPUs through [`Isa::runs_on`].
    pub fn dispatchable_on(self, features: &CpuFeatures) -> bool {
        match self {
            Isa::Sve => self.runs_on(features) && features.sve_vector_bytes > NEON_BYTES,
            _ => self.runs_on(features),
        }
    }
}

/// Width of a NEON vector register in bytes.
pub const NEON_BYTES: u32 = 16;

/// One family per table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub dot_f32: Isa,
    pub cosine_f32: Isa,
    pub l2sq_f32: Isa,
    pub dot_i8: Isa,
}

impl Plan {
    /// `avx2+fma` when every entry uses one family, else `f32:<isa> i8:<isa>` (per-entry
    /// f32 families are listed separately only when they differ).
    pub fn describe(&self) -> String {
        let f32_same = self.dot_f32 == self.cosine_f32 && self.dot_f32 == self.l2sq_f32;
        if f32_same && self.dot_f32 == self.dot_i8 {
            return self.dot_f32.name().to_string();
        }
        let f32_part = if f32_same {
            format!("f32:{}", self.dot_f32.name())
        } else {
            format!(
                "dot:{} cosine:{} l2:{}",
                self.dot_f32.name(),
                self.cosine_f32.name(),
                self.l2sq_f32.name()
            )
        };
        format!("{f32_part} i8:{}", self.dot_i8.name())
    }
}

/// Measured preference for `dot_f32` and `l2sq_f32`, best first. Zen 4 executes 512-bit
/// FMAs as two 256-bit halves, so AVX2+FMA with four accumulators already saturates the
/// load ports for two-stream kernels and measured 5-20 % faster than the AVX-512 kernel.
/// On aarch64 the widest vectors go first: SVE (where dispatchable, see
/// [`Isa::dispatchable_on`]) before NEON, an unmeasured choice (docs/PERFORMANCE.md).
pub const DOT_L2_F32_PREFERENCE: [Isa; 5] =
    [Isa::Avx2Fma, Isa::Avx512, Isa::Sve, Isa::Neon, Isa::Scalar];

/// Measured preference for `cosine_f32`, best first. Three FMAs per loaded pair make it
/// FMA-bound; the AVX-512 kernel issues half the instructions for the same work and
/// measured faster than AVX2 at both 768 and 1536 dimensions. aarch64 as for dot and L2.
pub const COSINE_F32_PREFERENCE: [Isa; 5] =
    [Isa::Avx512, Isa::Avx2Fma, Isa::Sve, Isa::Neon, Isa::Scalar];

/// Measured preference for the int8 dot product, best first: VNNI does 64 multiply-adds
/// per instruction, the widening paths need sign-extension first. SVE's `sdot` does what
/// NEON's does on wider vectors.
pub const I8_PREFERENCE: [Isa; 7] = [
    Isa::Avx512Vnni,
    Isa::Avx512,
    Isa::Avx2Fma,
    Isa::Sve,
    Isa::NeonDotprod,
    Isa::Neon,
    Isa::Scalar,
];

/// The first family in `preference` dispatch may pick on `features` (scalar always).
pub fn best_of(preference: &[Isa], features: &CpuFeatures) -> Isa {
    preference
        .iter()
        .copied()
        .find(|isa| isa.dispatchable_on(features))
        .unwrap_or(Isa::Scalar)
}

/// The dispatch decision for a CPU with `features`.
pub fn plan(features: &CpuFeatures) -> Plan {
    Plan {
        dot_f32: best_of(&DOT_L2_F32_PREFERENCE, features),
        cosine_f32: best_of(&COSINE_F32_PREFERENCE, features),
        l2sq_f32: best_of(&DOT_L2_F32_PREFERENCE, features),
        dot_i8: best_of(&I8_PREFERENCE, features),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zen4() -> CpuFeatures {
        CpuFeatures {
            avx2: true,
            fma: true,
            avx512f: true,
            avx512bw: true,
            avx512vl: true,
            avx512vnni: true,
            ..CpuFeatures::default()
        }
    }

    #[test]
    fn no_features_means_scalar_everywhere() {
        let p = plan(&CpuFeatures::default());
        assert_eq!(
            p,
            Plan {
                dot_f32: Isa::Scalar,
                cosine_f32: Isa::Scalar,
                l2sq_f32: Isa::Scalar,
                dot_i8: Isa::Scalar
            }
        );
        assert_eq!(p.describe(), "scalar");
    }

    #[test]
    fn zen4_mixes_avx2_avx512_and_vnni_per_entry() {
        let p = plan(&zen4());
        assert_eq!(p.dot_f32, Isa::Avx2Fma);
        assert_eq!(p.l2sq_f32, Isa::Avx2Fma);
        assert_eq!(p.cosine_f32, Isa::Avx512);
        assert_eq!(p.dot_i8, Isa::Avx512Vnni);
        assert_eq!(
            p.describe(),
            "dot:avx2+fma cosine:avx512 l2:avx2+fma i8:avx512-vnni"
        );
    }

    /// Each entry falls back to the best family the CPU's features allow: FMA is part of
    /// the AVX2 family, AVX-512 needs BW and VL, VNNI only adds int8, and dotprod only
    /// adds int8 to NEON.
    #[test]
    fn each_entry_falls_back_to_what_the_features_allow() {
        let avx2 = CpuFeatures {
            avx2: true,
            fma: true,
            ..CpuFeatures::default()
        };
        let neon = CpuFeatures {
            neon: true,
            ..CpuFeatures::default()
        };
        let zen4_without_vnni = CpuFeatures {
            avx512vnni: false,
            ..zen4()
        };
        let zen4_without_bw = CpuFeatures {
            avx512bw: false,
            ..zen4()
        };
        let cases = [
            (avx2, "avx2+fma"),
            (CpuFeatures { fma: false, ..avx2 }, "scalar"),
            (
                zen4_without_vnni,
                "dot:avx2+fma cosine:avx512 l2:avx2+fma i8:avx512",
            ),
            (zen4_without_bw, "avx2+fma"),
            (neon, "neon"),
            (
                CpuFeatures {
                    dotprod: true,
                    ..neon
                },
                "f32:neon i8:neon-dotprod",
            ),
        ];
        for (features, dispatched) in cases {
            assert_eq!(plan(&features).describe(), dispatched, "{features:?}");
        }
        assert!(!Isa::Avx2Fma.runs_on(&CpuFeatures { fma: false, ..avx2 }));
        assert!(!Isa::Avx512.runs_on(&zen4_without_bw));
        assert!(!Isa::Avx512Vnni.runs_on(&zen4_without_bw));
    }

    /// Neoverse V1 (Graviton3): 256-bit SVE, dotprod.
    fn neoverse_v1() -> CpuFeatures {
        CpuFeatures {
            neon: true,
            dotprod: true,
            sve: true,
            sve_vector_bytes: 32,
            ..CpuFeatures::default()
        }
    }

    /// SVE serves every entry only when its vectors are wider than NEON's: at 512 bits
    /// (A64FX, no dotprod) and 256 bits (Neoverse V1). At 128 bits (Neoverse N2) it runs
    /// but NEON is dispatched, and so it is when prctl could not tell the length.
    #[test]
    fn sve_is_dispatched_only_when_wider_than_neon() {
        let a64fx = CpuFeatures {
            dotprod: false,
            sve_vector_bytes: 64,
            ..neoverse_v1()
        };
        let with_bytes = |sve_vector_bytes| CpuFeatures {
            sve_vector_bytes,
            ..neoverse_v1()
        };
        let neon = "f32:neon i8:neon-dotprod";
        for (cpu, dispatched) in [
            (a64fx, "sve"),
            (neoverse_v1(), "sve"),
            (with_bytes(16), neon),
            (with_bytes(0), neon),
        ] {
            assert!(Isa::Sve.runs_on(&cpu), "{cpu:?}");
            let wider = cpu.sve_vector_bytes > NEON_BYTES;
            assert_eq!(Isa::Sve.dispatchable_on(&cpu), wider, "{cpu:?}");
            assert_eq!(plan(&cpu).describe(), dispatched, "{cpu:?}");
        }
    }

    #[test]
    fn every_preference_list_ends_in_scalar() {
        assert_eq!(DOT_L2_F32_PREFERENCE.last(), Some(&Isa::Scalar));
        assert_eq!(COSINE_F32_PREFERENCE.last(), Some(&Isa::Scalar));
        assert_eq!(I8_PREFERENCE.last(), Some(&Isa::Scalar));
    }
}
