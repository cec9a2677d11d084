//! The protobuf wire format beneath [`proto`](super::proto): the two things prost's derive
//! does not do, keeping the fields the schema does not know and reading strings that are
//! not UTF-8.
//!
//! `cargo xtask codegen` points every generated message and oneof at this module
//! (`#[prost(prost_path = "crate::ir::wire")]`), gives every message an `unknown_fields`
//! field, and ends `proto.rs` with one [`messages!`] line per message. So:
//! - the derive implements this module's [`Message`] (the fields the schema knows) and
//!   reads strings through this module's [`encoding::string`];
//! - [`messages!`] implements `prost::Message` on top of it: a field whose number the
//!   schema gives the message goes to the derived code, any other is kept, key and value
//!   byte for byte, in the message's [`UnknownFields`]. The derive writes that field last
//!   (its tag is the largest there is), so the unknown fields follow the known ones, where
//!   protobuf's reference implementation writes them too.
//!
//! `ir` knows nothing of the registry; this module knows nothing of the IR structs.

use ::prost::bytes::{Buf, BufMut};
use ::prost::encoding::{DecodeContext, WireType, encode_key, skip_field};

pub(crate) use ::prost::{DecodeError, alloc, bytes};

/// What the generated code calls through `prost_path`: prost's encoders, with strings read
/// leniently.
pub(crate) mod encoding {
    pub(crate) use ::prost::encoding::*;

    /// proto2 `string` fields. protobuf's reference parser does not check them for UTF-8
    /// (only proto3 does), so neither does this: a field that is not UTF-8 is read with
    /// each invalid sequence replaced by U+FFFD (`String::from_utf8_lossy`), and written
    /// back as that text. A `String` cannot hold the original bytes.
    pub(crate) mod string {
        use ::prost::DecodeError;
        use ::prost::bytes::Buf;
        pub(crate) use ::prost::encoding::string::{
            encode, encode_repeated, encoded_len, encoded_len_repeated,
        };
        use ::prost::encoding::{DecodeContext, WireType};

        /// Reads one string, replacing what is not UTF-8.
        pub(crate) fn merge(
            wire_type: WireType,
            value: &mut String,
            buf: &mut impl Buf,
            ctx: DecodeContext,
        ) -> Result<(), DecodeError> {
            // prost's reader first, on the buffer's first chunk (all of it for the
            // buffers this crate decodes): as fast as before for the strings that are
            // UTF-8, which are nearly all.
            let chunk = buf.chunk();
            let mut rest = chunk;
            if ::prost::encoding::string::merge(wire_type, value, &mut rest, ctx.clone()).is_ok() {
                let read = chunk.len() - rest.len();
                buf.advance(read);
                return Ok(());
            }
            let mut bytes = std::mem::take(value).into_bytes();
            let read = ::prost::encoding::bytes::merge(wire_type, &mut bytes, buf, ctx);
            *value = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            read
        }

        /// Reads one string of a repeated field, replacing what is not UTF-8.
        pub(crate) fn merge_repeated(
            wire_type: WireType,
            values: &mut Vec<String>,
            buf: &mut impl Buf,
            ctx: DecodeContext,
        ) -> Result<(), DecodeError> {
            let mut value = String::new();
            merge(wire_type, &mut value, buf, ctx)?;
            values.push(value);
            Ok(())
        }
    }
}

/// The fields of a message that the schema defines: what prost's derive implements, under
/// this name because the derive names the trait `<prost_path>::Message`. `prost::Message`
/// ([`messages!`]) is built on it.
pub(crate) trait Message {
    fn encode_raw(&self, buf: &mut impl BufMut);
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError>;
    fn encoded_len(&self) -> usize;
    fn clear(&mut self);
}

/// The fields of one message that the schema does not define (a newer ONNX's, a vendor's
/// extension), as read: each field's key and value, byte for byte, in file order. Writing
/// the message writes them back after the fields the schema knows.
///
/// Every generated message has one in `unknown_fields` (`None` when there are none); the
/// IR structs keep theirs privately, so an identity run writes them back.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct UnknownFields(Vec<u8>);

impl UnknownFields {
    /// The fields as they are on the wire (keys and values).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The field numbers, in order (a number repeats for each occurrence).
    pub fn numbers(&self) -> Vec<u32> {
        let mut rest = self.0.as_slice();
        let mut numbers = Vec::new();
        while let Ok((tag, wire_type)) = ::prost::encoding::decode_key(&mut rest) {
            numbers.push(tag);
            if skip_field(wire_type, tag, &mut rest, DecodeContext::default()).is_err() {
                break;
            }
        }
        numbers
    }

    /// Fields kept elsewhere as bytes this type gave out (`ir::snapshot`).
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> UnknownFields {
        UnknownFields(bytes)
    }

    /// Reads one field the schema does not give the message into `fields`: the derive's
    /// `oneof` protocol, which [`messages!`] calls for every unknown number.
    ///
    /// The value is measured by prost's own `skip_field` (same errors, same nesting limit
    /// for groups) on the buffer's first chunk, then copied. The decoders of this crate
    /// read one contiguous buffer (`Bytes` or a slice), whose first chunk is all of it.
    pub(crate) fn merge(
        fields: &mut Option<UnknownFields>,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let chunk = buf.chunk();
        let mut value = chunk;
        skip_field(wire_type, tag, &mut value, ctx)?;
        let len = chunk.len() - value.len();
        let out = &mut fields.get_or_insert_default().0;
        encode_key(tag, wire_type, out);
        out.extend_from_slice(&chunk[..len]);
        buf.advance(len);
        Ok(())
    }

    /// Writes the fields back (the derive's `oneof` protocol).
    pub(crate) fn encode(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    /// Their length on the wire (the derive's `oneof` protocol).
    pub(crate) fn encoded_len(&self) -> usize {
        self.0.len()
    }
}

impl std::fmt::Debug for UnknownFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnknownFields")
            .field("numbers", &self.numbers())
            .field("bytes", &self.0.len())
            .finish()
    }
}

/// `prost::Message` for generated messages: `Type: n | m | ...;` lists the field numbers
/// the schema gives `Type`; a field with any other number is kept in its `unknown_fields`.
macro_rules! messages {
    ($($ty:ty : $($tag:literal)|+ ;)*) => {$(
        impl ::prost::Message for $ty {
            fn encode_raw(&self, buf: &mut impl ::prost::bytes::BufMut) {
                <Self as $crate::ir::wire::Message>::encode_raw(self, buf)
            }

            fn merge_field(
                &mut self,
                tag: u32,
                wire_type: ::prost::encoding::WireType,
                buf: &mut impl ::prost::bytes::Buf,
                ctx: ::prost::encoding::DecodeContext,
            ) -> ::core::result::Result<(), ::prost::DecodeError> {
                match tag {
                    $($tag)|+ => {
                        <Self as $crate::ir::wire::Message>::merge_field(self, tag, wire_type, buf, ctx)
                    }
                    _ => $crate::ir::wire::UnknownFields::merge(
                        &mut self.unknown_fields,
                        tag,
                        wire_type,
                        buf,
                        ctx,
                    ),
                }
            }

            #[inline]
            fn encoded_len(&self) -> usize {
                <Self as $crate::ir::wire::Message>::encoded_len(self)
            }

            fn clear(&mut self) {
                <Self as $crate::ir::wire::Message>::clear(self)
            }
        }
    )*};
}
pub(crate) use messages;
