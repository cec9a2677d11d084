//! NumPy `.npy` files: tensors in and out of the executor, as FINN users have them.
//!
//! Version 1 and 2 headers, little-endian `f4`, `f8`, `i8`, `i4`, `i2`, `i1`, `u1` and
//! `b1`, C order. A file of another kind is an error naming what it holds.
//!
//! ```
//! use brainsmith_core::ir::{Tensor, npy};
//!
//! let t = Tensor::from_f32("x", &[2, 2], &[1.0, -2.0, 0.5, 3.0]);
//! let bytes = npy::write(&t).unwrap();
//! let back = npy::read("x", &bytes).unwrap();
//! assert_eq!(back.dims(), [2, 2]);
//! assert_eq!(back.to_f64().unwrap(), [1.0, -2.0, 0.5, 3.0]);
//! ```

use super::tensor::{ElemType, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";

/// The most values a file may declare (2^31): a bound before anything is allocated.
pub const MAX_VALUES: usize = 1 << 31;

/// Reads an `.npy` file's bytes as a tensor named `name`.
pub fn read(name: &str, bytes: &[u8]) -> Result<Tensor, String> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a NumPy .npy file (no \\x93NUMPY magic)")?;
    let (major, rest) = rest.split_at_checked(2).ok_or("truncated header")?;
    let (len, rest) = match major[0] {
        1 => {
            let (l, r) = rest.split_at_checked(2).ok_or("truncated header")?;
            (usize::from(u16::from_le_bytes([l[0], l[1]])), r)
        }
        2 | 3 => {
            let (l, r) = rest.split_at_checked(4).ok_or("truncated header")?;
            (u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize, r)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let (header, data) = rest.split_at_checked(len).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "the header is not text")?;
    let descr = field(header, "descr").ok_or("the header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    if field(header, "fortran_order").is_some_and(|f| f.starts_with("True")) {
        return Err(
            "Fortran-order arrays are not supported; save with np.ascontiguousarray".into(),
        );
    }
    let shape_text = field(header, "shape").ok_or("the header has no 'shape'")?;
    let inner = shape_text
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("the header's 'shape' is not a tuple")?;
    let dims: Vec<i64> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|d| {
            d.parse()
                .map_err(|_| format!("shape entry '{d}' is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let count = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))
        .filter(|&n| n <= MAX_VALUES)
        .ok_or_else(|| format!("shape {dims:?} holds more than {MAX_VALUES} values"))?;
    let (elem, size) = match descr {
        "<f4" => (ElemType::Float, 4),
        "<f8" => (ElemType::Double, 8),
        "<i8" => (ElemType::Int64, 8),
        "<i4" => (ElemType::Int32, 4),
        "<i2" => (ElemType::Int16, 2),
        "|i1" => (ElemType::Int8, 1),
        "|u1" => (ElemType::Uint8, 1),
        "|b1" => (ElemType::Bool, 1),
        other => {
            return Err(format!(
                "element type '{other}' is not supported; save float32, float64 or a \
                 little-endian integer type"
            ));
        }
    };
    let want = count * size;
    if data.len() != want {
        return Err(format!(
            "the data holds {} bytes; shape {dims:?} of '{descr}' needs {want}",
            data.len()
        ));
    }
    Ok(Tensor::from_raw(name, elem, &dims, data.to_vec()))
}

/// The value of `key` in a header dict, up to the next top-level comma.
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('(') {
        return Some(&rest[..=rest.find(')')?]);
    }
    Some(rest.split([',', '}']).next()?.trim())
}

/// The bytes of an `.npy` file (version 1) holding `tensor`: float32 tensors as `<f4`,
/// float64 as `<f8`, 64-bit integers as `<i8`.
pub fn write(tensor: &Tensor) -> Result<Vec<u8>, String> {
    let (descr, raw): (&str, Vec<u8>) = match tensor.elem_type() {
        ElemType::Float => (
            "<f4",
            tensor
                .to_f64()
                .map_err(|e| e.to_string())?
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
        ),
        ElemType::Double => (
            "<f8",
            tensor
                .to_f64()
                .map_err(|e| e.to_string())?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        ElemType::Int64 | ElemType::Int32 | ElemType::Int16 | ElemType::Int8 => (
            "<i8",
            tensor
                .to_i64()
                .map_err(|e| e.to_string())?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        other => return Err(format!("cannot write {other:?} tensors as .npy")),
    };
    let shape = match tensor.dims() {
        [one] => format!("({one},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic, version and length (10 bytes) and the header, padded to 64 with a newline.
    let pad = 64 - (10 + header.len() + 1) % 64;
    header.push_str(&" ".repeat(pad % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + raw.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&raw);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_aligned_and_bad_files_are_named_errors() {
        let t = Tensor::from_i64("i", &[3], &[1, -2, 3]);
        let bytes = write(&t).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(read("i", &bytes).unwrap().to_i64().unwrap(), [1, -2, 3]);
        let scalar = write(&Tensor::from_f32("s", &[], &[2.5])).unwrap();
        assert_eq!(read("s", &scalar).unwrap().dims(), [] as [i64; 0]);
        assert!(
            read("x", b"PK\x03\x04")
                .unwrap_err()
                .contains("not a NumPy")
        );
        let mut short = bytes.clone();
        short.pop();
        assert!(read("i", &short).unwrap_err().contains("needs 24"));
        let huge = String::from_utf8_lossy(&bytes).replace("(3,)", "(99999999999,)");
        assert!(read("i", huge.as_bytes()).is_err());
    }
}
