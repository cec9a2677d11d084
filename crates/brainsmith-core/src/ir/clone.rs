//! `Clone` for the IR with a `clone_from` that reuses the destination's buffers.
//!
//! The pipeline keeps one backup of the model and refreshes it with `clone_from` before
//! every transform, so that a failed transform can be undone. A derived `Clone` would
//! allocate every name, input list and shape again each time; here a refresh copies into
//! the strings and vectors the backup already owns and allocates only where the model
//! outgrew them. [`clone_fields!`] writes both methods from one list of fields, and the
//! list must name every field (the destructuring patterns fail to compile otherwise), so
//! a new field cannot be forgotten.

use super::proto;

/// Implements `Clone` for a struct field by field, `clone_from` included.
macro_rules! clone_fields {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl Clone for $ty {
            fn clone(&self) -> Self {
                let $ty { $($field),* } = self;
                $ty { $($field: Clone::clone($field)),* }
            }

            fn clone_from(&mut self, source: &Self) {
                let $ty { $($field),* } = self;
                $(Clone::clone_from($field, &source.$field);)*
            }
        }
    };
}
pub(crate) use clone_fields;

/// `dst.clone_from(src)` for a vector of values whose own `clone_from` cannot be
/// overridden (the generated protobuf types): `refresh` updates an element in place.
pub(crate) fn clone_vec_with<T: Clone>(dst: &mut Vec<T>, src: &[T], refresh: fn(&mut T, &T)) {
    dst.truncate(src.len());
    let kept = dst.len();
    for (d, s) in dst.iter_mut().zip(src) {
        refresh(d, s);
    }
    dst.extend_from_slice(&src[kept..]);
}

/// Refreshes a metadata entry in place.
pub(crate) fn refresh_entry(
    d: &mut proto::StringStringEntryProto,
    s: &proto::StringStringEntryProto,
) {
    d.key.clone_from(&s.key);
    d.value.clone_from(&s.value);
}

/// Refreshes a tensor annotation (where QONNX keeps datatypes and layouts) in place.
pub(crate) fn refresh_annotation(d: &mut proto::TensorAnnotation, s: &proto::TensorAnnotation) {
    d.tensor_name.clone_from(&s.tensor_name);
    clone_vec_with(
        &mut d.quant_parameter_tensor_names,
        &s.quant_parameter_tensor_names,
        refresh_entry,
    );
}

#[cfg(test)]
mod tests {
    use crate::ir::{
        AttributeValue as V, ElemType, Model, Node, QuantType, Tensor, ValueInfo, ValueType,
    };

    fn model(nodes: usize, seed: i64) -> Model {
        let mut m = Model::default();
        for i in 0..nodes {
            let value = match (i as i64 + seed) % 4 {
                0 => V::Ints(vec![seed; i + 1]),
                1 => V::Float(seed as f32),
                2 => V::string(&"s".repeat(i + 1)),
                _ => V::Tensor(Tensor::from_i64("t", &[1], &[seed])),
            };
            let input = format!("x{i}_{seed}");
            let output = format!("y{i}");
            m.graph.nodes.push(
                Node::new("Relu", [input.as_str()], [output.as_str()]).with_attribute("a", value),
            );
            let shape = vec![seed.max(1); i % 3];
            m.graph
                .value_info
                .push(ValueInfo::tensor(output.as_str(), ElemType::Float, &shape));
            if (i as i64 + seed) % 2 == 0 {
                m.graph
                    .set_datatype(&output, QuantType::Int(i as u32 % 8 + 1));
            }
        }
        if seed % 2 == 1
            && let Some(v) = m.graph.value_info.first_mut()
        {
            v.ty = Some(ValueType::Other(Default::default()));
        }
        m.graph
            .initializers
            .push(Tensor::from_f32("w", &[2], &[seed as f32, 1.0]));
        m
    }

    /// Refreshing any model from any other (growing, shrinking, changing the kinds of
    /// attribute values and types) gives an equal model.
    #[test]
    fn clone_from_equals_the_source_whatever_the_destination_held() {
        let models: Vec<Model> = [(0, 0), (1, 1), (3, 2), (5, 3), (8, 4), (2, 5)]
            .into_iter()
            .map(|(n, seed)| model(n, seed))
            .collect();
        for a in &models {
            for b in &models {
                let mut d = a.clone();
                d.clone_from(b);
                assert!(d == *b);
                assert_eq!(d.encode(), b.encode());
            }
        }
    }

    /// Tensors share their storage until one side changes.
    #[test]
    fn a_renamed_tensor_copy_leaves_the_original_alone() {
        let t = Tensor::from_f32("w", &[2], &[1.0, 2.0]);
        let mut u = t.clone();
        u.set_name("v");
        u.reshape(&[1, 2]).unwrap();
        assert_eq!((t.name(), t.dims()), ("w", &[2][..]));
        assert_eq!((u.name(), u.dims()), ("v", &[1, 2][..]));
        assert_eq!(t.raw_bytes(), u.raw_bytes());
    }
}
