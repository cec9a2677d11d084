//! [`QuantType`]: the QONNX/FINN datatype annotations (`finn_datatype`).

use std::fmt;
use std::str::FromStr;

/// A QONNX datatype, as written in a `quantization_annotation` entry with key
/// `finn_datatype` (`"INT8"`, `"BIPOLAR"`, `"FIXED<8,4>"`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantType {
    /// IEEE float32.
    Float32,
    /// IEEE float16.
    Float16,
    /// {0, 1}.
    Binary,
    /// {-1, +1}.
    Bipolar,
    /// {-1, 0, +1}.
    Ternary,
    /// Signed two's-complement integer of the given width.
    Int(u32),
    /// Unsigned integer of the given width.
    UInt(u32),
    /// Signed fixed point: total width, integer bits.
    Fixed(u32, u32),
    /// Signed integer of the given width with a float scale.
    ScaledInt(u32),
    /// Arbitrary-precision float: exponent bits, mantissa bits, exponent bias.
    Float(u32, u32, i32),
}

impl QuantType {
    /// Bits per element.
    pub fn bitwidth(self) -> u32 {
        match self {
            QuantType::Float32 => 32,
            QuantType::Float16 => 16,
            QuantType::Binary | QuantType::Bipolar => 1,
            QuantType::Ternary => 2,
            QuantType::Int(w)
            | QuantType::UInt(w)
            | QuantType::Fixed(w, _)
            | QuantType::ScaledInt(w) => w,
            QuantType::Float(e, m, _) => 1 + e + m,
        }
    }

    /// Whether every value is an integer.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            QuantType::Binary
                | QuantType::Bipolar
                | QuantType::Ternary
                | QuantType::Int(_)
                | QuantType::UInt(_)
        )
    }

    /// The smallest and largest representable value.
    pub fn range(self) -> (f64, f64) {
        match self {
            QuantType::Float32 => (f64::from(f32::MIN), f64::from(f32::MAX)),
            QuantType::Float16 => (-65504.0, 65504.0),
            QuantType::Binary => (0.0, 1.0),
            QuantType::Bipolar | QuantType::Ternary => (-1.0, 1.0),
            QuantType::Int(w) | QuantType::ScaledInt(w) => {
                (-(2f64.powi(w as i32 - 1)), 2f64.powi(w as i32 - 1) - 1.0)
            }
            QuantType::UInt(w) => (0.0, 2f64.powi(w as i32) - 1.0),
            QuantType::Fixed(w, i) => {
                let frac = 2f64.powi(-((w - i) as i32));
                (-(2f64.powi(i as i32 - 1)), 2f64.powi(i as i32 - 1) - frac)
            }
            QuantType::Float(e, m, bias) => {
                let max_exp = (1i64 << e) - 1 - i64::from(bias);
                let max = (2.0 - 2f64.powi(-(m as i32))) * 2f64.powi(max_exp as i32);
                (-max, max)
            }
        }
    }
}

impl fmt::Display for QuantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantType::Float32 => f.write_str("FLOAT32"),
            QuantType::Float16 => f.write_str("FLOAT16"),
            QuantType::Binary => f.write_str("BINARY"),
            QuantType::Bipolar => f.write_str("BIPOLAR"),
            QuantType::Ternary => f.write_str("TERNARY"),
            QuantType::Int(w) => write!(f, "INT{w}"),
            QuantType::UInt(w) => write!(f, "UINT{w}"),
            QuantType::Fixed(w, i) => write!(f, "FIXED<{w},{i}>"),
            QuantType::ScaledInt(w) => write!(f, "SCALEDINT<{w}>"),
            QuantType::Float(e, m, b) => write!(f, "FLOAT<{e},{m},{b}>"),
        }
    }
}

/// A QONNX datatype in a configuration (TOML, a blueprint, `--apply`) is its name:
/// `weights = "INT4"`. An unknown name is an error that lists the forms.
impl<'de> serde::Deserialize<'de> for QuantType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Written as its name, as it is read.
impl serde::Serialize for QuantType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for QuantType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "unknown QONNX datatype '{s}'; expected FLOAT32, FLOAT16, BINARY, BIPOLAR, TERNARY, \
                 INT<n>, UINT<n>, FIXED<w,i>, SCALEDINT<n> or FLOAT<e,m,b>"
            )
        };
        let width = |digits: &str| digits.parse::<u32>().ok().filter(|w| (1..=64).contains(w));
        let params = |prefix: &str| -> Option<Vec<i64>> {
            let inner = s
                .strip_prefix(prefix)?
                .strip_prefix('<')?
                .strip_suffix('>')?;
            inner.split(',').map(|p| p.trim().parse().ok()).collect()
        };
        Ok(match s {
            "FLOAT32" => QuantType::Float32,
            "FLOAT16" => QuantType::Float16,
            "BINARY" => QuantType::Binary,
            "BIPOLAR" => QuantType::Bipolar,
            "TERNARY" => QuantType::Ternary,
            _ if s.starts_with("UINT") => QuantType::UInt(width(&s[4..]).ok_or_else(bad)?),
            _ if s.starts_with("INT") => QuantType::Int(width(&s[3..]).ok_or_else(bad)?),
            _ if s.starts_with("FIXED<") => match params("FIXED").as_deref() {
                Some(&[w, i]) if w > 0 && i > 0 && i <= w && w <= 64 => {
                    QuantType::Fixed(w as u32, i as u32)
                }
                _ => return Err(bad()),
            },
            _ if s.starts_with("SCALEDINT<") => match params("SCALEDINT").as_deref() {
                Some(&[w]) if (1..=64).contains(&w) => QuantType::ScaledInt(w as u32),
                _ => return Err(bad()),
            },
            _ if s.starts_with("FLOAT<") => match params("FLOAT").as_deref() {
                Some(&[e, m, b]) if (1..=11).contains(&e) && (0..=52).contains(&m) => {
                    QuantType::Float(e as u32, m as u32, b as i32)
                }
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_family() {
        for text in [
            "FLOAT32",
            "BIPOLAR",
            "INT8",
            "UINT4",
            "FIXED<8,4>",
            "SCALEDINT<8>",
            "FLOAT<4,3,7>",
        ] {
            let parsed: QuantType = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(
            "INT8".parse::<QuantType>().unwrap().range(),
            (-128.0, 127.0)
        );
        assert_eq!("UINT4".parse::<QuantType>().unwrap().range(), (0.0, 15.0));
        assert!("INT0".parse::<QuantType>().is_err());
        assert!(
            "FIXED<4,8>"
                .parse::<QuantType>()
                .unwrap_err()
                .contains("FIXED<4,8>")
        );
    }
}
