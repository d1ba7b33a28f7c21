//! Kubernetes resource quantities (`512Mi`, `2G`, `100m`, `1e3`), parsed strictly: the
//! one parser of the workspace, used to validate specs and by the local agent for the
//! memory limit it enforces.
//!
//! The grammar is Kubernetes' own (`k8s.io/apimachinery/pkg/api/resource`), without a
//! sign: a decimal number, then one binary suffix (`Ki`..`Ei`), one decimal suffix (`m`,
//! `k`, `M`..`E`) or a decimal exponent (`e3`, `E-2`). `2GB`, `10 Gi` or `12 apples` are
//! not quantities.

/// What a quantity field accepts, for error messages.
pub const QUANTITY_FORMS: &str = "a Kubernetes quantity: a number with an optional suffix \
    Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024), m, k, M, G, T, P, E (powers of 1000) or an \
    exponent such as e6, e.g. 512Mi, 2G, 1.5Gi";

/// Why a text is not a usable quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("{text:?} is not {QUANTITY_FORMS}")]
    Syntax { text: String },
    #[error("{text:?} is larger than {} units", u64::MAX)]
    TooLarge { text: String },
}

/// A parsed quantity: `digits · 2^binary_exponent · 10^decimal_exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed {
    digits: u128,
    binary_exponent: u32,
    decimal_exponent: i32,
}

/// The value of `text` in whole units (bytes for memory, cores for CPU), rounded up as
/// Kubernetes' `Quantity.Value()` rounds: `1.5Gi` is 1610612736, `100m` is 1.
pub fn quantity_value(text: &str) -> Result<u64, QuantityError> {
    let parsed = parse(text).ok_or_else(|| QuantityError::Syntax {
        text: text.to_owned(),
    })?;
    whole_units(parsed).ok_or_else(|| QuantityError::TooLarge {
        text: text.to_owned(),
    })
}

/// Whether `text` is a quantity whose value fits in 64 bits.
pub fn is_quantity(text: &str) -> bool {
    quantity_value(text).is_ok()
}

fn parse(text: &str) -> Option<Parsed> {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let significant = format!("{whole}{fraction}");
    let significant = significant.trim_start_matches('0');
    // More digits than a u128 holds saturate, so the value is refused as too large.
    let digits = match significant {
        "" => 0,
        digits => digits.parse().unwrap_or(u128::MAX),
    };
    let fraction_digits = i32::try_from(fraction.len()).ok()?;
    let (binary_exponent, decimal_exponent) = suffix_exponents(suffix)?;
    Some(Parsed {
        digits,
        binary_exponent,
        decimal_exponent: decimal_exponent.checked_sub(fraction_digits)?,
    })
}

/// The powers of two and of ten a suffix stands for.
fn suffix_exponents(suffix: &str) -> Option<(u32, i32)> {
    const BINARY: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    const DECIMAL: [(&str, i32); 8] = [
        ("", 0),
        ("m", -3),
        ("k", 3),
        ("M", 6),
        ("G", 9),
        ("T", 12),
        ("P", 15),
        ("E", 18),
    ];
    if let Some(position) = BINARY.iter().position(|binary| *binary == suffix) {
        return Some((10 * (position as u32 + 1), 0));
    }
    if let Some((_, exponent)) = DECIMAL.iter().find(|(decimal, _)| *decimal == suffix) {
        return Some((0, *exponent));
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((0, exponent.parse().ok()?))
}

fn whole_units(parsed: Parsed) -> Option<u64> {
    let scaled = parsed
        .digits
        .checked_mul(1u128.checked_shl(parsed.binary_exponent)?)?;
    let value = if parsed.decimal_exponent >= 0 {
        scaled.checked_mul(10u128.checked_pow(parsed.decimal_exponent.unsigned_abs())?)?
    } else {
        match 10u128.checked_pow(parsed.decimal_exponent.unsigned_abs()) {
            Some(divisor) => scaled.div_ceil(divisor),
            // More fraction digits than a u128 holds: a positive value rounds up to 1.
            None => u128::from(scaled > 0),
        }
    };
    u64::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_decimal_suffixes_scale_the_number() {
        for (text, value) in [
            ("512Mi", 512 << 20),
            ("1.5Gi", 3 << 29),
            ("2G", 2_000_000_000),
            ("1000", 1000),
            ("1e3", 1000),
            ("1E", 1_000_000_000_000_000_000),
            (".5Ki", 512),
            ("12.", 12),
        ] {
            assert_eq!(quantity_value(text), Ok(value), "{text}");
        }
    }

    #[test]
    fn fractions_of_a_unit_round_up_like_kubernetes() {
        for (text, value) in [("100m", 1), ("1500m", 2), ("2E-2", 1), ("0", 0)] {
            assert_eq!(quantity_value(text), Ok(value), "{text}");
        }
    }

    #[test]
    fn anything_else_is_refused_naming_the_accepted_forms() {
        for bad in [
            "",
            "12 apples",
            "2GB",
            "10 Gi",
            "10gi",
            "-1Gi",
            "1.2.3",
            "Gi",
            ".",
            "1e",
            "1e+",
            "ten",
            "1Ki ",
        ] {
            let error = quantity_value(bad).unwrap_err();
            assert_eq!(
                error,
                QuantityError::Syntax {
                    text: bad.to_owned()
                }
            );
            assert!(error.to_string().contains("e.g. 512Mi, 2G"), "{error}");
        }
    }

    #[test]
    fn values_past_64_bits_are_refused() {
        for text in ["16Ei", "1e40"] {
            assert!(
                matches!(quantity_value(text), Err(QuantityError::TooLarge { .. })),
                "{text}"
            );
        }
        assert_eq!(quantity_value("15Ei"), Ok(15 << 60));
    }
}
