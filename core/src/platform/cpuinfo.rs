//! `/proc/cpuinfo` parsing for x86-64 and arm64 kernels.

use super::arm::{arm_model, implementer_name};
use super::model::Arch;

/// What `/proc/cpuinfo` says about the CPU.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpuinfoFacts {
    pub arch: Option<Arch>,
    pub vendor: String,
    pub model: String,
    pub implementer: Option<u32>,
    pub part: Option<u32>,
    pub logical_cpus: u32,
    /// x86 `flags` or arm64 `Features` of the first CPU, sorted and deduplicated.
    pub flags: Vec<String>,
    /// The `Model` line Raspberry Pi kernels append (`Raspberry Pi 4 Model B Rev 1.4`).
    pub board_model: Option<String>,
}

/// Parses `/proc/cpuinfo`. Only the first CPU's fields are used (the per-CPU blocks repeat
/// them); unknown lines, lines without `:` and unparsable numbers are skipped.
pub fn parse_cpuinfo(text: &str) -> CpuinfoFacts {
    let mut facts = CpuinfoFacts::default();
    for (key, value) in text.lines().filter_map(split_field) {
        match key {
            "processor" if value.parse::<u32>().is_ok() => facts.logical_cpus += 1,
            "vendor_id" => set_once(&mut facts.vendor, value),
            "model name" => set_once(&mut facts.model, value),
            "flags" | "Features" if facts.flags.is_empty() => facts.flags = sorted_words(value),
            "CPU implementer" => facts.implementer = facts.implementer.or(parse_hex(value)),
            "CPU part" => facts.part = facts.part.or(parse_hex(value)),
            "Model" if !value.is_empty() => facts.board_model = Some(value.to_string()),
            _ => {}
        }
    }
    facts.arch = arch_from_fields(text);
    if let Some(implementer) = facts.implementer {
        facts.vendor = implementer_name(implementer);
        facts.model = facts.part.map_or_else(
            || implementer_name(implementer),
            |part| arm_model(implementer, part),
        );
    }
    facts
}

fn split_field(line: &str) -> Option<(&str, &str)> {
    line.split_once(':')
        .map(|(key, value)| (key.trim(), value.trim()))
}

fn set_once(slot: &mut String, value: &str) {
    if slot.is_empty() {
        *slot = value.to_string();
    }
}

fn sorted_words(value: &str) -> Vec<String> {
    let mut words: Vec<String> = value.split_whitespace().map(str::to_string).collect();
    words.sort();
    words.dedup();
    words
}

/// `0x41` → 65; anything else → `None`.
fn parse_hex(value: &str) -> Option<u32> {
    let digits = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))?;
    u32::from_str_radix(digits, 16).ok()
}

/// x86 kernels print `vendor_id` and `flags`, arm64 kernels `CPU implementer` and `Features`.
fn arch_from_fields(text: &str) -> Option<Arch> {
    let has = |key: &str| {
        text.lines()
            .filter_map(split_field)
            .any(|(found, _)| found == key)
    };
    if has("vendor_id") || has("flags") {
        Some(Arch::Amd64)
    } else if has("CPU implementer") || has("Features") {
        Some(Arch::Arm64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_cpu_is_identified_by_implementer_and_part() {
        let text = "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd sve atomics\n\
                    CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\n\
                    CPU part\t: 0xd40\nCPU revision\t: 1\n\nprocessor\t: 1\nCPU part\t: 0xd40\n";
        let facts = parse_cpuinfo(text);
        assert_eq!(facts.arch, Some(Arch::Arm64));
        assert_eq!(facts.vendor, "ARM");
        assert_eq!(facts.model, "Neoverse-V1");
        assert_eq!(facts.logical_cpus, 2);
        assert_eq!(facts.flags, ["asimd", "atomics", "fp", "sve"]);
    }

    #[test]
    fn garbage_numbers_and_missing_fields_degrade_instead_of_failing() {
        let text =
            "processor : zero\nCPU implementer : forty-one\nCPU part : 0xZZZ\nno colon here\n";
        let facts = parse_cpuinfo(text);
        assert_eq!(facts.logical_cpus, 0);
        assert_eq!(facts.implementer, None);
        assert_eq!(facts.part, None);
        assert_eq!(facts.arch, Some(Arch::Arm64));
        assert_eq!(facts.vendor, "");
    }

    #[test]
    fn empty_text_knows_nothing() {
        assert_eq!(parse_cpuinfo(""), CpuinfoFacts::default());
    }

    #[test]
    fn unknown_implementer_keeps_its_numbers_in_the_model() {
        let facts = parse_cpuinfo("CPU implementer : 0xc0\nCPU part : 0xac3\n");
        assert_eq!(facts.vendor, "Ampere");
        assert_eq!(facts.model, "implementer 0xc0 part 0xac3");
    }
}
