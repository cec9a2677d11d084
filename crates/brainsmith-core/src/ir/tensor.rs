//! [`Tensor`]: a constant tensor (initializer or attribute), stored as read.

use std::sync::Arc;

use super::proto;

pub use super::proto::tensor_proto::DataType as ElemType;

/// A constant tensor. The protobuf storage (raw bytes or typed fields) is kept as read, so
/// weights are not copied until a transform asks for their values.
///
/// The name and dimensions are kept apart from the rest, which a clone shares: copying a
/// model, as the pipeline does before every transform, copies no values, and renaming or
/// reshaping a copy leaves the values shared.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tensor {
    /// The proto's `name`, as read (`None` when absent).
    pub(super) name: Option<String>,
    /// The proto's `dims`.
    pub(super) dims: Vec<i64>,
    /// Everything else (its `name` and `dims` are always empty).
    pub(super) data: Arc<proto::TensorProto>,
}

/// Why a tensor's values could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tensor '{tensor}': {message}")]
pub struct TensorError {
    /// The tensor's name.
    pub tensor: String,
    /// What is wrong.
    pub message: String,
}

impl Tensor {
    /// Wraps a protobuf tensor.
    pub fn from_proto(mut p: proto::TensorProto) -> Tensor {
        Tensor {
            name: p.name.take(),
            dims: std::mem::take(&mut p.dims),
            data: Arc::new(p),
        }
    }

    /// The protobuf tensor.
    pub fn into_proto(self) -> proto::TensorProto {
        let mut p = Arc::unwrap_or_clone(self.data);
        p.name = self.name;
        p.dims = self.dims;
        p
    }

    /// The protobuf tensor, copied (values in `raw_data` are shared, not copied).
    pub fn to_proto(&self) -> proto::TensorProto {
        self.clone().into_proto()
    }

    /// A float32 tensor (values stored as raw little-endian bytes).
    pub fn from_f32(name: &str, dims: &[i64], values: &[f32]) -> Tensor {
        Tensor::from_proto(proto::TensorProto {
            name: Some(name.to_owned()),
            dims: dims.to_vec(),
            data_type: Some(ElemType::Float as i32),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        })
    }

    /// An int64 tensor (values stored as raw little-endian bytes).
    pub fn from_i64(name: &str, dims: &[i64], values: &[i64]) -> Tensor {
        Tensor::from_proto(proto::TensorProto {
            name: Some(name.to_owned()),
            dims: dims.to_vec(),
            data_type: Some(ElemType::Int64 as i32),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        })
    }

    /// A tensor of any element type from its little-endian bytes, as ONNX stores
    /// `raw_data`. A `Vec<u8>` is taken over without a copy; a `bytes::Bytes` is shared.
    pub fn from_raw(
        name: &str,
        elem_type: ElemType,
        dims: &[i64],
        raw: impl Into<bytes::Bytes>,
    ) -> Tensor {
        Tensor::from_proto(proto::TensorProto {
            name: Some(name.to_owned()),
            dims: dims.to_vec(),
            data_type: Some(elem_type as i32),
            raw_data: Some(raw.into()),
            ..Default::default()
        })
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// Renames the tensor.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = Some(name.into());
    }

    /// The dimensions.
    pub fn dims(&self) -> &[i64] {
        &self.dims
    }

    /// Gives the tensor new dimensions with the same number of elements (row-major data
    /// is unchanged).
    pub fn reshape(&mut self, dims: &[i64]) -> Result<(), TensorError> {
        let len: i64 = dims.iter().product();
        if dims.iter().any(|&d| d < 0) || len as usize != self.len() {
            return Err(self.error(format!(
                "cannot reshape {} elements of shape {:?} to {dims:?}",
                self.len(),
                self.dims()
            )));
        }
        self.dims = dims.to_vec();
        Ok(())
    }

    /// The little-endian bytes of the values when they are stored as `raw_data`.
    pub fn raw_bytes(&self) -> Option<&[u8]> {
        self.data.raw_data.as_deref()
    }

    /// The element type (`Undefined` for an unknown code).
    pub fn elem_type(&self) -> ElemType {
        ElemType::try_from(self.data.data_type.unwrap_or(0)).unwrap_or(ElemType::Undefined)
    }

    /// The number of elements the dimensions describe; `usize::MAX` when that count
    /// overflows (declared dimensions no tensor can have, which no data matches).
    pub fn len(&self) -> usize {
        self.dims
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d.max(0) as usize))
            .unwrap_or(usize::MAX)
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An error about this tensor.
    fn error(&self, message: String) -> TensorError {
        TensorError {
            tensor: self.name().to_owned(),
            message,
        }
    }

    /// An error unless `n` values are as many as the dimensions describe.
    fn counted(&self, n: usize) -> Result<(), TensorError> {
        if n == self.len() {
            return Ok(());
        }
        Err(self.error(format!(
            "holds {n} values but its dimensions {:?} need {}",
            self.dims(),
            self.len()
        )))
    }

    /// The stored data; an error when it is in an external file, which is not loaded.
    fn loaded(&self) -> Result<&proto::TensorProto, TensorError> {
        let p = &*self.data;
        if p.data_location == Some(proto::tensor_proto::DataLocation::External as i32) {
            return Err(
                self.error("its data is stored in an external file, which is not loaded".into())
            );
        }
        Ok(p)
    }

    /// How many values the tensor stores, counted without reading them: raw bytes over
    /// the element width, or the length of the typed field its element type uses. An
    /// error where they cannot be counted: data in an external file, raw bytes that are
    /// not a whole number of elements, an element type without a numeric reading.
    pub fn stored_len(&self) -> Result<usize, TensorError> {
        let err = |message: String| self.error(message);
        let p = self.loaded()?;
        let ty = self.elem_type();
        let width = match ty {
            ElemType::Double | ElemType::Int64 | ElemType::Uint64 => 8,
            ElemType::Float | ElemType::Int32 | ElemType::Uint32 => 4,
            ElemType::Int16 | ElemType::Uint16 | ElemType::Float16 | ElemType::Bfloat16 => 2,
            ElemType::Int8 | ElemType::Uint8 | ElemType::Bool => 1,
            other => {
                return Err(err(format!(
                    "element type {other:?} has no numeric reading"
                )));
            }
        };
        Ok(match &p.raw_data {
            Some(raw) if raw.len().is_multiple_of(width) => raw.len() / width,
            Some(raw) => {
                return Err(err(format!(
                    "raw data of {} bytes does not hold {ty:?} values",
                    raw.len()
                )));
            }
            None => match ty {
                ElemType::Float => p.float_data.len(),
                ElemType::Double => p.double_data.len(),
                ElemType::Int64 => p.int64_data.len(),
                ElemType::Uint32 | ElemType::Uint64 => p.uint64_data.len(),
                _ => p.int32_data.len(),
            },
        })
    }

    /// The values as `f64`, for every numeric element type stored in the file.
    pub fn to_f64(&self) -> Result<Vec<f64>, TensorError> {
        let err = |message: String| self.error(message);
        let p = self.loaded()?;
        let ty = self.elem_type();
        let values: Vec<f64> = match &p.raw_data {
            Some(raw) => decode_raw(ty, raw).ok_or_else(|| {
                err(format!(
                    "raw data of {} bytes does not hold {:?} values",
                    raw.len(),
                    ty
                ))
            })?,
            None => match ty {
                ElemType::Float => p.float_data.iter().map(|&v| f64::from(v)).collect(),
                ElemType::Double => p.double_data.clone(),
                ElemType::Int64 => p.int64_data.iter().map(|&v| v as f64).collect(),
                ElemType::Uint32 | ElemType::Uint64 => {
                    p.uint64_data.iter().map(|&v| v as f64).collect()
                }
                ElemType::Int32
                | ElemType::Int16
                | ElemType::Int8
                | ElemType::Uint16
                | ElemType::Uint8
                | ElemType::Bool => p.int32_data.iter().map(|&v| f64::from(v)).collect(),
                ElemType::Float16 => p
                    .int32_data
                    .iter()
                    .map(|&v| f64::from(half_to_f32(v as u16)))
                    .collect(),
                ElemType::Bfloat16 => p
                    .int32_data
                    .iter()
                    .map(|&v| f64::from(f32::from_bits((v as u32) << 16)))
                    .collect(),
                other => {
                    return Err(err(format!(
                        "element type {other:?} has no numeric reading"
                    )));
                }
            },
        };
        self.counted(values.len())?;
        Ok(values)
    }
}

impl Tensor {
    /// The values as `i64`, exactly, for the integer and boolean element types (shapes,
    /// axes, indices); `None` names nothing, so an error says what is wrong.
    pub fn to_i64(&self) -> Result<Vec<i64>, TensorError> {
        let p = &self.data;
        let ty = self.elem_type();
        let exact = match (ty, &p.raw_data) {
            (ElemType::Int64, Some(raw)) if raw.len().is_multiple_of(8) => Some(
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect::<Vec<_>>(),
            ),
            (ElemType::Int64, None) => Some(p.int64_data.clone()),
            (ElemType::Uint64, None) => Some(p.uint64_data.iter().map(|&v| v as i64).collect()),
            _ => None,
        };
        let values = match exact {
            Some(values) => values,
            None => {
                if matches!(
                    ty,
                    ElemType::Float | ElemType::Double | ElemType::Float16 | ElemType::Bfloat16
                ) {
                    return Err(
                        self.error(format!("holds {ty:?} values where integers are expected"))
                    );
                }
                self.to_f64()?.into_iter().map(|v| v as i64).collect()
            }
        };
        self.counted(values.len())?;
        Ok(values)
    }
}

fn decode_raw(ty: ElemType, raw: &[u8]) -> Option<Vec<f64>> {
    fn chunks<const N: usize>(raw: &[u8], f: impl Fn([u8; N]) -> f64) -> Option<Vec<f64>> {
        if !raw.len().is_multiple_of(N) {
            return None;
        }
        Some(
            raw.chunks_exact(N)
                .map(|c| f(c.try_into().unwrap_or([0; N])))
                .collect(),
        )
    }
    match ty {
        ElemType::Float => chunks::<4>(raw, |b| f64::from(f32::from_le_bytes(b))),
        ElemType::Double => chunks::<8>(raw, f64::from_le_bytes),
        ElemType::Int64 => chunks::<8>(raw, |b| i64::from_le_bytes(b) as f64),
        ElemType::Uint64 => chunks::<8>(raw, |b| u64::from_le_bytes(b) as f64),
        ElemType::Int32 => chunks::<4>(raw, |b| f64::from(i32::from_le_bytes(b))),
        ElemType::Uint32 => chunks::<4>(raw, |b| f64::from(u32::from_le_bytes(b))),
        ElemType::Int16 => chunks::<2>(raw, |b| f64::from(i16::from_le_bytes(b))),
        ElemType::Uint16 => chunks::<2>(raw, |b| f64::from(u16::from_le_bytes(b))),
        ElemType::Float16 => chunks::<2>(raw, |b| f64::from(half_to_f32(u16::from_le_bytes(b)))),
        ElemType::Bfloat16 => chunks::<2>(raw, |b| {
            f64::from(f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16))
        }),
        ElemType::Int8 => chunks::<1>(raw, |b| f64::from(b[0] as i8)),
        ElemType::Uint8 | ElemType::Bool => chunks::<1>(raw, |b| f64::from(b[0])),
        _ => None,
    }
}

/// IEEE binary16 to binary32.
fn half_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let shift = m.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((m << shift) & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tensors share their storage until one side changes.
    #[test]
    fn a_renamed_copy_leaves_the_original_alone() {
        let t = Tensor::from_f32("w", &[2], &[1.0, 2.0]);
        let mut u = t.clone();
        u.set_name("v");
        u.reshape(&[1, 2]).unwrap();
        assert_eq!((t.name(), t.dims()), ("w", &[2][..]));
        assert_eq!((u.name(), u.dims()), ("v", &[1, 2][..]));
        assert_eq!(t.raw_bytes(), u.raw_bytes());
    }

    #[test]
    fn reads_raw_and_typed_storage() {
        let t = Tensor::from_f32("w", &[2], &[1.5, -2.0]);
        assert_eq!(t.to_f64().unwrap(), vec![1.5, -2.0]);
        let typed = Tensor::from_proto(proto::TensorProto {
            name: Some("i".into()),
            dims: vec![3],
            data_type: Some(ElemType::Int64 as i32),
            int64_data: vec![1, 2, 3],
            ..Default::default()
        });
        assert_eq!(typed.to_f64().unwrap(), vec![1.0, 2.0, 3.0]);
        let max = Tensor::from_i64("m", &[1], &[i64::MAX]);
        assert_eq!(max.to_i64().unwrap(), vec![i64::MAX]);
        assert!(t.to_i64().unwrap_err().to_string().contains("integers"));
        let short = Tensor::from_proto(proto::TensorProto {
            dims: vec![4],
            ..typed.clone().into_proto()
        });
        assert!(short.to_f64().unwrap_err().to_string().contains("need 4"));
        // Counting agrees with reading, and says where they cannot be counted.
        assert_eq!(t.stored_len().unwrap(), 2);
        assert_eq!(typed.stored_len().unwrap(), 3);
        assert_eq!(short.stored_len().unwrap(), 3);
        let ragged = Tensor::from_raw("r", ElemType::Float, &[1], vec![0; 6]);
        let e = ragged.stored_len().unwrap_err().to_string();
        assert!(e.contains("6 bytes") && e.contains("'r'"), "{e}");
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
    }
}
