//! Which optional protobuf fields were present in the file, so that writing the model
//! back emits exactly those (proto2 distinguishes "absent" from "set to the default").

/// One bit per optional field of a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Presence(u16);

impl Presence {
    fn mark(&mut self, bit: u16, present: bool) {
        if present {
            self.0 |= 1 << bit;
        }
    }

    /// The bits, to store elsewhere (see `ir::snapshot`).
    pub(crate) fn bits(self) -> u16 {
        self.0
    }

    /// Presence from stored bits.
    pub(crate) fn from_bits(bits: u16) -> Presence {
        Presence(bits)
    }

    pub(crate) fn has(self, bit: u16) -> bool {
        self.0 & (1 << bit) != 0
    }

    /// Reads an optional field, remembering whether it was there.
    pub(crate) fn take<T: Default>(&mut self, bit: u16, value: Option<T>) -> T {
        self.mark(bit, value.is_some());
        value.unwrap_or_default()
    }

    /// Writes a field back: present if it was present, or if it now differs from the default.
    pub(crate) fn put<T: Default + PartialEq>(self, bit: u16, value: T) -> Option<T> {
        (self.has(bit) || value != T::default()).then_some(value)
    }
}
