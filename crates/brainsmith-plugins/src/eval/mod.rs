//! Evaluates ONNX nodes on constant inputs: what `FoldConstants` runs. The evaluators
//! themselves live with their ops' shape rules, by family, in the crate's `ops` module.
//!
//! An [`Array`] holds a tensor's values in one of two lanes, `f64` for the floating-point
//! element types and `i64` for the integer and boolean ones, together with the element
//! type it stands for. Every result is rounded (float32) or wrapped (int32, uint8...) to
//! its element type as it is made, so a chain of ops sees what ONNX Runtime computes: one
//! IEEE operation in `f64` rounded to `f32` equals the same operation in `f32`.

use brainsmith_core::ir::{ElemType, Node, Tensor};

/// Whether `node` can be evaluated here.
pub fn supports(node: &Node) -> bool {
    crate::ops::evaluator(node).is_some()
}

/// Evaluates `node` on `inputs` (`None` for an omitted optional input), as `run` says:
/// for its opset of the default domain, and making no output of more than its
/// `max_elements`.
pub fn evaluate(node: &Node, inputs: &[Option<&Array>], run: &Run) -> Result<Vec<Array>, String> {
    let (eval, needs) =
        crate::ops::evaluator(node).ok_or("no constant-folding kernel for this op type")?;
    let given = given(inputs)?;
    if given.len() < needs {
        return Err(format!(
            "it has {} inputs, and {} needs at least {needs}",
            given.len(),
            node.op_type
        ));
    }
    eval(node, &given, run)
}

/// Whether `node` only gives its first input other dimensions (`Identity`, `Reshape`,
/// `Flatten`, `Squeeze`, `Unsqueeze`): its output holds the same values in the same
/// order.
pub fn is_view(node: &Node) -> bool {
    crate::ops::view(node).is_some()
}

/// For an op that only gives its first input other dimensions (`Identity`, `Reshape`,
/// `Flatten`, `Squeeze`, `Unsqueeze`), the output's dimensions, from the data input's
/// dimensions and the values of the other inputs (`None` for an omitted one); `None` for
/// any other op. A caller can then reuse the stored data instead of evaluating it.
pub fn view_dims(
    node: &Node,
    dims: &[usize],
    rest: &[Option<&Array>],
    opset: i64,
) -> Option<Result<Vec<usize>, String>> {
    let view = crate::ops::view(node)?;
    Some(given(rest).and_then(|rest| view(node, dims, &rest, opset)))
}

/// The inputs a kernel reads: kernels index their required inputs directly and check
/// optional ones by length, so a trailing omitted input is dropped and an omitted one in
/// between is an error.
fn given<'a>(inputs: &[Option<&'a Array>]) -> Result<Vec<&'a Array>, String> {
    let mut given: Vec<&Array> = Vec::with_capacity(inputs.len());
    let mut gap = false;
    for input in inputs {
        match input {
            Some(_) if gap => {
                return Err("an optional input is omitted before a given one".into());
            }
            Some(a) => given.push(a),
            None => gap = true,
        }
    }
    Ok(given)
}

pub(crate) fn axis_in(a: i64, rank: usize) -> Result<usize, String> {
    crate::shapes::axis(a, rank, "axis")
}

pub(crate) fn dims_from(values: &[i64]) -> Result<Vec<usize>, String> {
    values
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is negative")))
        .collect()
}

pub(crate) fn elem_of(code: i64) -> Result<ElemType, String> {
    ElemType::try_from(code as i32).map_err(|_| format!("unknown element type {code}"))
}

pub(crate) fn with_dims(a: &Array, dims: Vec<usize>) -> Result<Array, String> {
    if dims.iter().product::<usize>() != a.len() {
        return Err(format!("{} elements cannot take shape {dims:?}", a.len()));
    }
    Ok(Array {
        elem: a.elem,
        dims,
        values: a.values.clone(),
    })
}

/// Gathers `a`'s elements at the flat `indices` into an array of shape `dims`.
pub(crate) fn take(a: &Array, dims: Vec<usize>, indices: &[usize]) -> Array {
    match &a.values {
        Values::Float(v) => Array {
            elem: a.elem,
            dims,
            values: Values::Float(indices.iter().map(|&i| v[i]).collect()),
        },
        Values::Int(v) => Array {
            elem: a.elem,
            dims,
            values: Values::Int(indices.iter().map(|&i| v[i]).collect()),
        },
    }
}

/// How an evaluation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// The opset of the default domain the node follows.
    pub opset: i64,
    /// The most elements one output may hold: a kernel whose output would be larger (a
    /// `ConstantOfShape`, `Expand`, `Tile` or `Range` of absurd size, or a broadcast of two
    /// large constants) reports it before allocating anything.
    pub max_elements: usize,
}

/// The number of elements of an output of dimensions `dims`, or an error when it is more
/// than `run` allows (or than `usize` counts).
pub(crate) fn count(dims: &[usize], run: &Run) -> Result<usize, String> {
    match dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(n) if n <= run.max_elements => Ok(n),
        n => Err(too_many(dims, n, run)),
    }
}

/// The error of an output of dimensions `dims` and `n` elements (`None`: more than `usize`
/// counts) that `run` does not allow.
fn too_many(dims: &[usize], n: Option<usize>, run: &Run) -> String {
    format!(
        "its output of shape {dims:?} would hold {} values, more than `max_elements` ({}) \
         allows; raise that setting of FoldConstants to fold it",
        n.map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string()),
        run.max_elements
    )
}

/// A tensor's values.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The element type the values stand for.
    pub elem: ElemType,
    /// The dimensions.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub values: Values,
}

/// Values in the lane of their element type.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Float16, bfloat16, float32 and float64 values.
    Float(Vec<f64>),
    /// Integer and boolean values.
    Int(Vec<i64>),
}

/// Whether `elem` is a floating-point type.
pub fn is_float(elem: ElemType) -> bool {
    matches!(
        elem,
        ElemType::Float | ElemType::Double | ElemType::Float16 | ElemType::Bfloat16
    )
}

fn is_int(elem: ElemType) -> bool {
    matches!(
        elem,
        ElemType::Int64
            | ElemType::Int32
            | ElemType::Int16
            | ElemType::Int8
            | ElemType::Uint64
            | ElemType::Uint32
            | ElemType::Uint16
            | ElemType::Uint8
            | ElemType::Bool
    )
}

/// Rounds a value to what an element of type `elem` can hold.
pub(crate) fn round_float(elem: ElemType, v: f64) -> f64 {
    match elem {
        ElemType::Float => f64::from(v as f32),
        ElemType::Float16 => half_bits_to_f64(f64_to_half(v)),
        ElemType::Bfloat16 => f64::from(f32::from_bits(u32::from(f64_to_bfloat16(v)) << 16)),
        _ => v,
    }
}

/// `v` rounded to the nearest IEEE binary16 (ties to even), as its bits: straight from
/// f64, so there is no double rounding through f32.
pub(crate) fn f64_to_half(v: f64) -> u16 {
    let sign = if v.is_sign_negative() { 0x8000 } else { 0 };
    let a = v.abs();
    if a.is_nan() {
        return sign | 0x7e00;
    }
    // The largest finite half is 65504; from halfway to the next step (65520) on, infinity.
    if a >= 65520.0 {
        return sign | 0x7c00;
    }
    if a < 2f64.powi(-14) {
        // Subnormal (or zero): a whole number of 2^-24 steps; 1024 steps is the smallest
        // normal, whose encoding is that same number.
        return sign | (a * 2f64.powi(24)).round_ties_even() as u16;
    }
    let bits = a.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mantissa = bits & ((1 << 52) - 1);
    let mut kept = mantissa >> 42;
    let rest = mantissa & ((1 << 42) - 1);
    let half = 1 << 41;
    if rest > half || (rest == half && kept & 1 == 1) {
        kept += 1;
    }
    // A carry out of the mantissa moves to the exponent, as adding the encodings does.
    let encoded = (((exponent + 15) as u64) << 10) + kept;
    sign | encoded.min(0x7c00) as u16
}

fn half_bits_to_f64(h: u16) -> f64 {
    let magnitude = h & 0x7fff;
    let v = match magnitude >> 10 {
        0 => f64::from(magnitude) * 2f64.powi(-24),
        31 if magnitude & 0x3ff == 0 => f64::INFINITY,
        31 => f64::NAN,
        e => f64::from(0x400 | (magnitude & 0x3ff)) * 2f64.powi(i32::from(e) - 25),
    };
    if h & 0x8000 != 0 { -v } else { v }
}

/// `v` rounded to the nearest bfloat16 (ties to even), as its bits, straight from f64.
pub(crate) fn f64_to_bfloat16(v: f64) -> u16 {
    if v.is_nan() {
        return if v.is_sign_negative() { 0xffc0 } else { 0x7fc0 };
    }
    let a = v.abs();
    // Eight significant bits: steps of 2^(e - 7) for a normal of exponent e, 2^-133 below.
    let exponent = if a == 0.0 {
        -126
    } else {
        (a.log2().floor() as i32).max(-126)
    };
    let mut step = 2f64.powi(exponent - 7);
    let mut q = (a / step).round_ties_even();
    if q >= 256.0 {
        // log2 rounded up at a power of two: the next binade's steps.
        step *= 2.0;
        q = (a / step).round_ties_even();
    }
    let rounded = q * step;
    let bits = if rounded > f64::from(f32::MAX) {
        0x7f80_0000
    } else {
        (rounded as f32).to_bits()
    };
    let sign = if v.is_sign_negative() { 0x8000 } else { 0 };
    sign | (bits >> 16) as u16
}

/// Wraps an integer to what an element of type `elem` can hold, as C++ casts do.
fn wrap_int(elem: ElemType, v: i64) -> i64 {
    match elem {
        ElemType::Int32 => i64::from(v as i32),
        ElemType::Int16 => i64::from(v as i16),
        ElemType::Int8 => i64::from(v as i8),
        ElemType::Uint32 => i64::from(v as u32),
        ElemType::Uint16 => i64::from(v as u16),
        ElemType::Uint8 => i64::from(v as u8),
        ElemType::Bool => i64::from(v != 0),
        _ => v,
    }
}

impl Array {
    /// A float array, its values rounded to `elem`.
    pub fn floats(elem: ElemType, dims: Vec<usize>, mut values: Vec<f64>) -> Array {
        values.iter_mut().for_each(|v| *v = round_float(elem, *v));
        Array {
            elem,
            dims,
            values: Values::Float(values),
        }
    }

    /// An integer or boolean array, its values wrapped to `elem`.
    pub fn ints(elem: ElemType, dims: Vec<usize>, mut values: Vec<i64>) -> Array {
        values.iter_mut().for_each(|v| *v = wrap_int(elem, *v));
        Array {
            elem,
            dims,
            values: Values::Int(values),
        }
    }

    /// An array of `elem` from values in either lane, converted as `Cast` does.
    pub fn cast(&self, elem: ElemType) -> Result<Array, String> {
        if is_float(elem) {
            Ok(Array::floats(elem, self.dims.clone(), self.as_f64()))
        } else if is_int(elem) {
            let values = match &self.values {
                Values::Int(v) => v.clone(),
                Values::Float(v) if elem == ElemType::Bool => {
                    v.iter().map(|&x| i64::from(x != 0.0)).collect()
                }
                // Truncation toward zero; NaN becomes 0 and out-of-range values saturate.
                Values::Float(v) => v.iter().map(|&x| x as i64).collect(),
            };
            Ok(Array::ints(elem, self.dims.clone(), values))
        } else {
            Err(format!("cannot compute values of element type {elem:?}"))
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as `f64`, whatever the lane.
    pub fn as_f64(&self) -> Vec<f64> {
        match &self.values {
            Values::Float(v) => v.clone(),
            Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// The values as `i64`; an error for floating-point values.
    pub fn as_i64(&self) -> Result<Vec<i64>, String> {
        match &self.values {
            Values::Int(v) => Ok(v.clone()),
            Values::Float(_) => Err(format!("expected integers, got {:?} values", self.elem)),
        }
    }

    /// Reads a stored tensor.
    pub fn from_tensor(t: &Tensor) -> Result<Array, String> {
        let elem = t.elem_type();
        let dims = t
            .dims()
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is negative")))
            .collect::<Result<Vec<_>, _>>()?;
        if is_float(elem) {
            Ok(Array::floats(
                elem,
                dims,
                t.to_f64().map_err(|e| e.to_string())?,
            ))
        } else if is_int(elem) {
            Ok(Array::ints(
                elem,
                dims,
                t.to_i64().map_err(|e| e.to_string())?,
            ))
        } else {
            Err(format!("cannot compute values of element type {elem:?}"))
        }
    }

    /// Stores the values as a tensor named `name`, in `raw_data`.
    pub fn to_tensor(&self, name: &str) -> Result<Tensor, String> {
        let dims: Vec<i64> = self.dims.iter().map(|&d| d as i64).collect();
        let raw: Vec<u8> = match (&self.values, self.elem) {
            (Values::Float(v), ElemType::Float) => {
                v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect()
            }
            (Values::Float(v), ElemType::Double) => {
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            (Values::Float(v), ElemType::Float16) => v
                .iter()
                .flat_map(|&x| f64_to_half(x).to_le_bytes())
                .collect(),
            (Values::Float(v), ElemType::Bfloat16) => v
                .iter()
                .flat_map(|&x| f64_to_bfloat16(x).to_le_bytes())
                .collect(),
            (Values::Int(v), ElemType::Int64 | ElemType::Uint64) => {
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            (Values::Int(v), ElemType::Int32) => {
                v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect()
            }
            (Values::Int(v), ElemType::Uint32) => {
                v.iter().flat_map(|&x| (x as u32).to_le_bytes()).collect()
            }
            (Values::Int(v), ElemType::Int16) => {
                v.iter().flat_map(|&x| (x as i16).to_le_bytes()).collect()
            }
            (Values::Int(v), ElemType::Uint16) => {
                v.iter().flat_map(|&x| (x as u16).to_le_bytes()).collect()
            }
            (Values::Int(v), ElemType::Int8) => v.iter().map(|&x| x as i8 as u8).collect(),
            (Values::Int(v), ElemType::Uint8 | ElemType::Bool) => {
                v.iter().map(|&x| x as u8).collect()
            }
            (_, elem) => return Err(format!("cannot store computed {elem:?} values")),
        };
        Ok(Tensor::from_raw(name, self.elem, &dims, raw))
    }
}

/// Row-major strides of `dims`.
pub(crate) fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// The shape two shapes broadcast to (numpy rules).
pub(crate) fn broadcast_dims(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let x = (i + a.len()).checked_sub(rank).map_or(1, |j| a[j]);
            let y = (i + b.len()).checked_sub(rank).map_or(1, |j| b[j]);
            match (x, y) {
                (x, y) if x == y => Ok(x),
                (1, y) => Ok(y),
                (x, 1) => Ok(x),
                _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
            }
        })
        .collect()
}

/// For every element of an array of shape `out`, the index of the element of an array of
/// shape `dims` that broadcasts to it.
pub(crate) fn broadcast_index(dims: &[usize], out: &[usize]) -> Vec<usize> {
    let total: usize = out.iter().product();
    let offset = out.len() - dims.len();
    let in_strides = strides(dims);
    // Stride 0 along broadcast dimensions.
    let eff: Vec<usize> = (0..out.len())
        .map(|i| {
            if i < offset || dims[i - offset] == 1 {
                0
            } else {
                in_strides[i - offset]
            }
        })
        .collect();
    let mut index = vec![0usize; out.len()];
    let mut result = Vec::with_capacity(total);
    let mut flat = 0usize;
    for _ in 0..total {
        result.push(flat);
        // Increment the multi-index, updating the flat input index incrementally.
        for d in (0..out.len()).rev() {
            index[d] += 1;
            flat += eff[d];
            if index[d] < out[d] {
                break;
            }
            flat -= eff[d] * index[d];
            index[d] = 0;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_and_bfloat16_round_to_nearest_even_from_f64() {
        for (v, h) in [
            (1.0, 0x3c00),
            (2.0, 0x4000),
            (65504.0, 0x7bff),
            (65519.99, 0x7bff),
            (65520.0, 0x7c00),
            (2f64.powi(-24), 0x0001),
            (2f64.powi(-25), 0x0000),       // a tie: to even, zero
            (3.0 * 2f64.powi(-25), 0x0002), // a tie between 1 and 2 steps: to 2
            (2f64.powi(-14) - 2f64.powi(-25), 0x0400), // rounds up into the normals
            (1.0 + 2f64.powi(-11), 0x3c00), // a tie: to even
            (1.0 + 3.0 * 2f64.powi(-11), 0x3c02),
            (1.0 + 2f64.powi(-11) + 2f64.powi(-40), 0x3c01), // above the tie (f32 would lose it)
            (2047.5, 0x6800),                                // 2047.5 is a tie to 2048
            (f64::INFINITY, 0x7c00),
        ] {
            assert_eq!(f64_to_half(v), h, "{v}");
            assert_eq!(f64_to_half(-v), h | 0x8000, "-{v}");
        }
        for bits in (0..0x7c00u16).step_by(7) {
            assert_eq!(f64_to_half(half_bits_to_f64(bits)), bits);
        }
        for (v, b) in [
            (1.0, 0x3f80),
            (1.0 + 2f64.powi(-8), 0x3f80), // a tie: to even
            (1.0 + 3.0 * 2f64.powi(-8), 0x3f82),
            (255.5, 0x4380), // rounds up into the next binade
            (f64::from(f32::MAX), 0x7f80),
            (f64::from(f32::from_bits(0x0001_0000)), 0x0001), // a subnormal
        ] {
            assert_eq!(f64_to_bfloat16(v), b, "{v}");
        }
        assert_eq!(round_float(ElemType::Float16, 0.1), 0.0999755859375);
    }

    #[test]
    fn broadcasting_indexes_like_numpy() {
        assert_eq!(broadcast_dims(&[2, 1, 3], &[4, 1]).unwrap(), vec![2, 4, 3]);
        assert_eq!(broadcast_index(&[1, 3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_index(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
        assert!(broadcast_dims(&[2], &[3]).is_err());
    }

    #[test]
    fn values_round_and_wrap_to_their_type() {
        let a = Array::floats(ElemType::Float, vec![1], vec![0.1]);
        assert_eq!(a.as_f64()[0], f64::from(0.1f32));
        let b = Array::ints(ElemType::Uint8, vec![2], vec![256, -1]);
        assert_eq!(b.as_i64().unwrap(), vec![0, 255]);
        let c = Array::floats(ElemType::Float, vec![3], vec![-2.7, 2.7, f64::NAN])
            .cast(ElemType::Int32)
            .unwrap();
        assert_eq!(c.as_i64().unwrap(), vec![-2, 2, 0]);
        let t = c.to_tensor("c").unwrap();
        assert_eq!(Array::from_tensor(&t).unwrap(), c);
    }
}
