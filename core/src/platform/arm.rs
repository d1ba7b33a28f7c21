//! ARM CPU identification from `CPU implementer` and `CPU part` (MIDR_EL1 fields).
//!
//! `/proc/cpuinfo` on arm64 never names the core ("Neoverse" appears nowhere on a Graviton),
//! so the core is looked up from these two numbers.

/// A known ARM core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmCore {
    /// The name Arm uses, e.g. `Neoverse-V1`.
    pub name: &'static str,
    /// The `grid.sutra.ai/cpu-core` label value, e.g. `neoverse-v1`.
    pub label: &'static str,
}

/// Implementer 0x41: Arm Ltd.
pub const ARM_LTD: u32 = 0x41;
/// Implementer 0x61: Apple.
pub const APPLE: u32 = 0x61;

const ARM_LTD_CORES: [(u32, ArmCore); 14] = [
    (0xd03, core("Cortex-A53", "cortex-a53")),
    (0xd04, core("Cortex-A35", "cortex-a35")),
    (0xd05, core("Cortex-A55", "cortex-a55")),
    (0xd07, core("Cortex-A57", "cortex-a57")),
    (0xd08, core("Cortex-A72", "cortex-a72")),
    (0xd09, core("Cortex-A73", "cortex-a73")),
    (0xd0a, core("Cortex-A75", "cortex-a75")),
    (0xd0b, core("Cortex-A76", "cortex-a76")),
    (0xd0c, core("Neoverse-N1", "neoverse-n1")),
    (0xd0d, core("Cortex-A77", "cortex-a77")),
    (0xd40, core("Neoverse-V1", "neoverse-v1")),
    (0xd41, core("Cortex-A78", "cortex-a78")),
    (0xd49, core("Neoverse-N2", "neoverse-n2")),
    (0xd4f, core("Neoverse-V2", "neoverse-v2")),
];

const fn core(name: &'static str, label: &'static str) -> ArmCore {
    ArmCore { name, label }
}

/// The core for an implementer/part pair, when it is one we know.
pub fn arm_core(implementer: u32, part: u32) -> Option<ArmCore> {
    if implementer != ARM_LTD {
        return None;
    }
    ARM_LTD_CORES
        .iter()
        .find(|(known, _)| *known == part)
        .map(|(_, core)| *core)
}

/// The vendor name for an implementer code, as `CpuInfo::vendor` reports it.
pub fn implementer_name(implementer: u32) -> String {
    match implementer {
        ARM_LTD => "ARM".to_string(),
        0x42 => "Broadcom".to_string(),
        0x43 => "Cavium".to_string(),
        0x46 => "Fujitsu".to_string(),
        0x48 => "HiSilicon".to_string(),
        0x4e => "NVIDIA".to_string(),
        0x51 => "Qualcomm".to_string(),
        APPLE => "Apple".to_string(),
        0xc0 => "Ampere".to_string(),
        other => format!("implementer-{other:#x}"),
    }
}

/// The model string for an ARM CPU: the core name, or the raw numbers when unknown.
pub fn arm_model(implementer: u32, part: u32) -> String {
    arm_core(implementer, part).map_or_else(
        || format!("implementer {implementer:#x} part {part:#x}"),
        |core| core.name.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graviton_parts_map_to_neoverse_cores() {
        assert_eq!(arm_core(0x41, 0xd0c).unwrap().name, "Neoverse-N1");
        assert_eq!(arm_core(0x41, 0xd40).unwrap().name, "Neoverse-V1");
        assert_eq!(arm_core(0x41, 0xd4f).unwrap().label, "neoverse-v2");
    }

    #[test]
    fn same_part_number_from_another_implementer_is_not_an_arm_core() {
        assert_eq!(arm_core(0x61, 0xd40), None);
        assert_eq!(arm_model(0x61, 0x32), "implementer 0x61 part 0x32");
    }
}
