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

/// How much [`WriteBuf`] gathers before it writes: the keys, lengths and small fields of
/// many messages. A slice at least this long (a weight's `raw_data`) skips it.
const WRITE_CHUNK: usize = 64 << 10;

/// What [`WriteBuf`] holds at first. It doubles up to [`WRITE_CHUNK`] as the model needs,
/// so that saving a small model allocates (and touches) a few KiB, not the whole chunk: in
/// a short `transform`, fresh pages are a good part of the cost.
const FIRST_CHUNK: usize = 4 << 10;

/// A [`BufMut`] that encodes straight into a writer (the save's temporary file), so that
/// no encoding of the whole model is ever held in memory: small fields are gathered in a
/// fixed buffer, and a slice of at least [`WRITE_CHUNK`] bytes (a weight's `raw_data`,
/// which prost hands over whole through [`BufMut::put`]) goes to the writer as it is,
/// without being copied. prost computes every message's length before writing it
/// (`encoded_len`), so nothing is written twice or patched afterwards.
///
/// `BufMut` cannot fail, so the first error is kept, everything after it dropped, and
/// [`WriteBuf::finish`] returns it.
pub(crate) struct WriteBuf<W: std::io::Write> {
    out: W,
    buf: Vec<u8>,
    /// The most `buf` holds: it starts smaller and doubles up to this.
    chunk: usize,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> WriteBuf<W> {
    pub(crate) fn new(out: W) -> Self {
        Self::with_chunk(out, WRITE_CHUNK)
    }

    fn with_chunk(out: W, chunk: usize) -> Self {
        let chunk = chunk.max(1);
        WriteBuf {
            out,
            buf: Vec::with_capacity(chunk.min(FIRST_CHUNK)),
            chunk,
            error: None,
        }
    }

    /// Makes room for `more` bytes in the buffer: it grows (doubling, up to the chunk)
    /// while it is smaller than the chunk, and is written out once it is full.
    fn make_room(&mut self, more: usize) {
        let needed = self.buf.len() + more;
        if needed <= self.buf.capacity() {
            return;
        }
        if self.buf.capacity() < self.chunk {
            // More than the capacity: the capacity is below the chunk, and `needed` above it.
            let grown = needed.max(self.buf.capacity() * 2).min(self.chunk);
            self.buf.reserve_exact(grown - self.buf.len());
            if needed <= self.buf.capacity() {
                return;
            }
        }
        self.flush_buf();
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(bytes)
        {
            self.error = Some(e);
        }
    }

    fn flush_buf(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.write(&buf);
        self.buf = buf;
        self.buf.clear();
    }

    /// Writes what is still gathered and flushes the writer; the first error, if any.
    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        self.flush_buf();
        match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush().map(|()| self.out),
        }
    }
}

// SAFETY: `chunk_mut` hands out only the buffer's spare capacity (never empty: a full
// buffer is written out first), and `advance_mut` extends the buffer's length over bytes
// the caller initialised in that spare capacity, as the trait requires of it.
unsafe impl<W: std::io::Write> BufMut for WriteBuf<W> {
    fn remaining_mut(&self) -> usize {
        // A writer has no end; `Vec`'s own bound.
        isize::MAX as usize - self.buf.len()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        let len = self.buf.len() + cnt;
        assert!(len <= self.buf.capacity(), "advanced past the chunk given");
        // SAFETY: the caller initialised `cnt` bytes of the spare capacity `chunk_mut`
        // returned, and the assertion keeps the length within the capacity.
        unsafe { self.buf.set_len(len) }
    }

    fn chunk_mut(&mut self) -> &mut bytes::buf::UninitSlice {
        if self.buf.len() == self.buf.capacity() {
            self.make_room(1);
        }
        bytes::buf::UninitSlice::uninit(self.buf.spare_capacity_mut())
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() >= self.chunk {
            self.flush_buf();
            self.write(src);
        } else {
            self.make_room(src.len());
            self.buf.extend_from_slice(src);
        }
    }

    fn put<T: Buf>(&mut self, mut src: T)
    where
        Self: Sized,
    {
        while src.has_remaining() {
            let chunk = src.chunk();
            let len = chunk.len();
            self.put_slice(chunk);
            src.advance(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::WriteBuf;
    use crate::ir::proto;

    /// A model whose tensors hold raw data of many sizes around the chunk's, and typed
    /// values.
    fn message() -> proto::ModelProto {
        let tensor = |name: &str, len: usize| proto::TensorProto {
            name: Some(name.to_owned()),
            dims: vec![len as i64],
            data_type: Some(2),
            raw_data: Some((0..len).map(|i| i as u8).collect::<Vec<_>>().into()),
            ..Default::default()
        };
        let mut graph = proto::GraphProto {
            name: Some("g".into()),
            ..Default::default()
        };
        for (i, len) in [0, 1, 6, 7, 8, 13, 64, 1000, 70_000]
            .into_iter()
            .enumerate()
        {
            graph.initializer.push(tensor(&format!("w{i}"), len));
        }
        graph.initializer.push(proto::TensorProto {
            name: Some("typed".into()),
            dims: vec![3],
            data_type: Some(1),
            float_data: vec![1.0, -2.5, 3.25],
            ..Default::default()
        });
        proto::ModelProto {
            ir_version: Some(8),
            graph: Some(graph),
            ..Default::default()
        }
    }

    #[test]
    fn writes_what_prost_encodes_whatever_the_chunk() {
        let m = message();
        let expected = m.encode_to_vec();
        for chunk in [1, 2, 7, 64, 4096, super::WRITE_CHUNK] {
            let mut out = WriteBuf::with_chunk(Vec::new(), chunk);
            m.encode_raw(&mut out);
            assert!(out.finish().unwrap() == expected, "chunk of {chunk} bytes");
        }
    }

    #[test]
    fn the_buffer_starts_small_and_grows_to_the_chunk_alone() {
        // A one-node model never needs more than the first few KiB.
        let small = proto::ModelProto {
            ir_version: Some(8),
            graph: Some(proto::GraphProto {
                name: Some("g".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut out = WriteBuf::new(Vec::new());
        small.encode_raw(&mut out);
        assert_eq!(out.buf.capacity(), super::FIRST_CHUNK);
        assert!(out.finish().unwrap() == small.encode_to_vec());

        // Many small fields: the buffer doubles up to the chunk and stops there, writing
        // out whole chunks.
        let many = proto::ModelProto {
            graph: Some(proto::GraphProto {
                node: (0..20_000)
                    .map(|i| proto::NodeProto {
                        name: Some(format!("node{i}")),
                        op_type: Some("Relu".into()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let expected = many.encode_to_vec();
        assert!(expected.len() > 4 * super::WRITE_CHUNK);
        let mut out = WriteBuf::new(Vec::new());
        many.encode_raw(&mut out);
        assert_eq!(out.buf.capacity(), super::WRITE_CHUNK);
        assert!(out.finish().unwrap() == expected);
    }

    /// A writer that takes `room` bytes, then fails.
    struct Full {
        room: usize,
        calls_after: usize,
    }

    impl std::io::Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                self.calls_after += 1;
                return Err(std::io::Error::other("disk full"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_first_error_is_kept_and_nothing_is_written_after_it() {
        let m = message();
        let mut out = WriteBuf::with_chunk(
            Full {
                room: 1000,
                calls_after: 0,
            },
            64,
        );
        m.encode_raw(&mut out);
        assert_eq!(out.error.as_ref().unwrap().to_string(), "disk full");
        assert_eq!(out.out.calls_after, 1);
        assert_eq!(out.finish().err().unwrap().to_string(), "disk full");
    }
}
