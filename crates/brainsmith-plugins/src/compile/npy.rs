//! NumPy's `.npy` files, as FINN users have their inputs and outputs: versions 1 to 3,
//! C order, little-endian numbers (`f4`, `f8`, signed and unsigned integers of 1 to 8
//! bytes, `bool`).

use std::path::Path;

/// An array: its shape and its values, as `f64` (every value a model's tensors hold).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub values: Vec<f64>,
}

/// How values are stored in a file written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `<f4`.
    F32,
    /// `<i8`.
    I64,
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads `path`; an error names the file and what is wrong with it.
pub fn read(path: &Path) -> Result<Array, String> {
    let at = |m: String| format!("{}: {m}", path.display());
    let bytes = brainsmith_core::fsutil::read_input(path, 1 << 31, "a NumPy array")
        .map_err(|e| at(format!("cannot read it: {e}")))?;
    parse(&bytes).map_err(at)
}

/// Parses the bytes of a `.npy` file.
pub fn parse(bytes: &[u8]) -> Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a NumPy .npy file (no \\x93NUMPY magic)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!(".npy version {v} is not one of 1, 2, 3")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("the header is cut short")?;
    let header = std::str::from_utf8(header).map_err(|_| "the header is not text")?;
    let descr = dict_value(header, "descr").ok_or("the header has no 'descr'")?;
    let fortran = dict_value(header, "fortran_order").ok_or("the header has no 'fortran_order'")?;
    if fortran.trim() != "False" {
        return Err(
            "the array is in Fortran order; save it in C order (np.ascontiguousarray)".into(),
        );
    }
    let shape_text = dict_value(header, "shape").ok_or("the header has no 'shape'")?;
    let shape: Vec<usize> = shape_text
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("shape {shape_text} is not a shape"))
        })
        .collect::<Result<_, _>>()?;
    let descr = descr.trim().trim_matches('\'').trim_matches('"');
    let (kind, size) = match descr.as_bytes() {
        [b'<' | b'|' | b'=', k, rest @ ..] => (*k, std::str::from_utf8(rest).unwrap_or("")),
        [b'>', ..] => {
            return Err(format!(
                "dtype {descr} is big-endian; save it little-endian"
            ));
        }
        _ => return Err(format!("dtype {descr} is not a plain number type")),
    };
    let size: usize = size
        .parse()
        .map_err(|_| format!("dtype {descr} is not a plain number type"))?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("the shape's size overflows")?;
    let data = &bytes[start + header_len..];
    if data.len() != count.saturating_mul(size) {
        return Err(format!(
            "the shape {shape:?} of {descr} needs {} bytes of data; the file has {}",
            count.saturating_mul(size),
            data.len()
        ));
    }
    let values = data
        .chunks_exact(size)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(c);
            match (kind, size) {
                (b'f', 4) => Ok(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
                (b'f', 8) => Ok(f64::from_le_bytes(b)),
                (b'i', 1 | 2 | 4 | 8) => {
                    let shift = 64 - 8 * size as u32;
                    Ok(((i64::from_le_bytes(b) << shift) >> shift) as f64)
                }
                (b'u' | b'b', 1 | 2 | 4 | 8) => Ok(u64::from_le_bytes(b) as f64),
                _ => Err(format!(
                    "dtype {descr} is not supported (float, int, uint, bool)"
                )),
            }
        })
        .collect::<Result<Vec<f64>, String>>()?;
    Ok(Array { shape, values })
}

/// The text of `key`'s value in the header's Python dict literal.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(&rest[..end])
}

/// The bytes of a version 1 `.npy` file holding `array` as `dtype`.
pub fn encode(array: &Array, dtype: Dtype) -> Vec<u8> {
    let shape = match array.shape.as_slice() {
        [d] => format!("({d},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let descr = match dtype {
        Dtype::F32 => "<f4",
        Dtype::I64 => "<i8",
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // The data starts at a multiple of 64 bytes; the header ends with a newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + array.values.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in &array.values {
        match dtype {
            Dtype::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            Dtype::I64 => out.extend_from_slice(&(v as i64).to_le_bytes()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_numpy_headers() {
        let a = Array {
            shape: vec![2, 3],
            values: vec![1.0, -2.5, 3.0, 0.0, 7.0, -1.0],
        };
        let bytes = encode(&a, Dtype::F32);
        assert_eq!((bytes.len() - a.values.len() * 4) % 64, 0);
        assert_eq!(parse(&bytes).unwrap(), a);
        let one = Array {
            shape: vec![3],
            values: vec![1.0, 2.0, -3.0],
        };
        assert_eq!(parse(&encode(&one, Dtype::I64)).unwrap(), one);
        // A header as numpy writes it for uint8.
        let mut raw = b"\x93NUMPY\x01\x00".to_vec();
        let h = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2), }         \n";
        raw.extend_from_slice(&(h.len() as u16).to_le_bytes());
        raw.extend_from_slice(h.as_bytes());
        raw.extend_from_slice(&[200, 7]);
        assert_eq!(parse(&raw).unwrap().values, [200.0, 7.0]);
    }

    #[test]
    fn bad_files_are_named() {
        assert!(parse(b"PK\x03\x04").unwrap_err().contains("not a NumPy"));
        let mut bytes = encode(
            &Array {
                shape: vec![4],
                values: vec![0.0; 4],
            },
            Dtype::F32,
        );
        bytes.truncate(bytes.len() - 1);
        assert!(parse(&bytes).unwrap_err().contains("needs 16 bytes"));
        let mut fortran = encode(
            &Array {
                shape: vec![1],
                values: vec![0.0],
            },
            Dtype::F32,
        );
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[at..at + 5].copy_from_slice(b"True ");
        assert!(parse(&fortran).unwrap_err().contains("Fortran"));
    }
}
