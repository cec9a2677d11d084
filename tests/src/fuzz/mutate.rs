//! Mutations: byte-level for any input (bit flips, interesting values, protobuf varints
//! at their edges, inserted, deleted and copied chunks, splices of two inputs) and
//! token-level for text (TOML, JSON, `--apply` lists: tokens dropped, repeated, swapped
//! or replaced by one of the input's own or by a dictionary word).

use super::rng::Rng;

/// The largest input a mutation makes; beyond it, growing mutations do nothing.
pub const MAX_LEN: usize = 4 << 20;

/// Integers at the edges of the types readers convert them to.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    1 << 31,
    1 << 32,
    1 << 40,
    1 << 53,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    u64::MAX,
    // -1, -2 and i64::MIN + 1 as protobuf writes negative int64s: ten-byte varints.
    u64::MAX - 1,
    0x8000_0000_0000_0001,
];

/// Appends `value` as a protobuf varint.
fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Applies one to four byte-level mutations to `input`; `other` is a second input to
/// splice from.
pub fn bytes(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..=rng.below(4) {
        byte_mutation(rng, input, other);
    }
}

fn byte_mutation(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    let len = input.len();
    let at = rng.below(len + 1);
    match rng.below(11) {
        // Flip one bit.
        0 if len > 0 => input[at.min(len - 1)] ^= 1 << rng.below(8),
        // Set a byte to an interesting one.
        1 if len > 0 => input[at.min(len - 1)] = *rng.pick(&[0, 1, 0x7F, 0x80, 0xFF, 0x08, 0x12]),
        // Nudge a byte (a length prefix or a tag by one).
        2 if len > 0 => {
            let b = &mut input[at.min(len - 1)];
            *b = if rng.one_in(2) {
                b.wrapping_add(1)
            } else {
                b.wrapping_sub(1)
            };
        }
        // Overwrite with a varint at an edge (a length, a dimension, a count).
        3 => {
            let mut v = Vec::new();
            varint(*rng.pick(INTERESTING), &mut v);
            let end = (at + v.len()).min(len);
            input.splice(at..end, v);
        }
        // Overwrite with a little-endian 4- or 8-byte integer (raw data, fixed fields).
        4 => {
            let value = rng.pick(INTERESTING).to_le_bytes();
            let width = if rng.one_in(2) { 4 } else { 8 };
            let end = (at + width).min(len);
            input.splice(at..end, value[..width].iter().copied());
        }
        // Delete a chunk.
        5 if len > 0 => {
            let n = 1 + rng.below((len - at.min(len - 1)).min(64));
            let start = at.min(len - 1);
            input.drain(start..(start + n).min(len));
        }
        // Insert random bytes.
        6 => {
            let n = 1 + rng.below(16);
            let fresh: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            input.splice(at..at, fresh);
        }
        // Copy a chunk of the input elsewhere in it (repeats a field).
        7 if len > 0 => {
            let start = rng.below(len);
            let n = 1 + rng.below((len - start).min(256));
            let chunk = input[start..start + n].to_vec();
            input.splice(at..at, chunk);
        }
        // Splice: this input's head, the other's tail.
        8 if !other.is_empty() => {
            let from = rng.below(other.len());
            input.truncate(at);
            input.extend_from_slice(&other[from..]);
        }
        // Insert a chunk of the other input.
        9 if !other.is_empty() => {
            let start = rng.below(other.len());
            let n = 1 + rng.below((other.len() - start).min(256));
            input.splice(at..at, other[start..start + n].iter().copied());
        }
        // Truncate.
        10 => input.truncate(at),
        _ => {}
    }
    input.truncate(MAX_LEN);
}

/// Words a text mutation inserts: TOML's and JSON's punctuation, blueprint keys, odd
/// numbers and strings.
const WORDS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "(",
    ")",
    "=",
    ",",
    ":",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "\n",
    " ",
    "#",
    ".",
    "\\",
    "\\u0000",
    "true",
    "false",
    "null",
    "0",
    "-1",
    "-0",
    "1e309",
    "nan",
    "-inf",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "2147483648",
    "0.5",
    "1979-05-27",
    "extends",
    "steps",
    "stages",
    "kernels",
    "backends",
    "repeat",
    "transforms",
    "name",
    "config",
    "plugins",
    "kind",
    "version",
    "\u{FFFD}",
    "\u{0}",
    "é",
    "brainsmith:",
    "brainsmith:InferShapes",
    "InferShapes",
    "FoldConstants",
    "ChangeBatchSize",
    "batch_size",
    "max_elements",
    "tolerance",
    "path",
    "/dev/zero",
    "../",
    "base.toml",
];

/// Applies one to four token-level mutations to `text`, or a byte-level one (one in
/// four), so that invalid UTF-8 is tried too.
pub fn text(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    if rng.one_in(4) {
        return bytes(rng, input, other);
    }
    let text = String::from_utf8_lossy(input).into_owned();
    let donor_tokens = tokens(&String::from_utf8_lossy(other));
    let mut tokens = tokens(&text);
    for _ in 0..=rng.below(4) {
        let at = rng.below(tokens.len() + 1);
        let fresh = |rng: &mut Rng| -> String {
            if !donor_tokens.is_empty() && rng.one_in(2) {
                rng.pick(&donor_tokens).clone()
            } else {
                (*rng.pick(WORDS)).to_owned()
            }
        };
        match rng.below(5) {
            0 if at < tokens.len() => {
                tokens.remove(at);
            }
            1 if at < tokens.len() => {
                let copy = tokens[at].clone();
                for _ in 0..=rng.below(8) {
                    tokens.insert(at, copy.clone());
                }
            }
            2 if tokens.len() > 1 => {
                let other_at = rng.below(tokens.len());
                let at = at.min(tokens.len() - 1);
                tokens.swap(at, other_at);
            }
            3 if at < tokens.len() => tokens[at] = fresh(rng),
            _ => tokens.insert(at, fresh(rng)),
        }
    }
    *input = tokens.concat().into_bytes();
    input.truncate(MAX_LEN);
}

/// Splits `text` into runs of word characters, runs of spaces, and single other
/// characters; their concatenation is `text`.
fn tokens(text: &str) -> Vec<String> {
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' || c == '-' {
            0
        } else if c == ' ' || c == '\t' {
            1
        } else {
            2
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut last = None;
    for c in text.chars() {
        let k = class(c);
        match out.last_mut() {
            Some(t) if last == Some(k) && k != 2 => t.push(c),
            _ => out.push(c.to_string()),
        }
        last = Some(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_concatenate_to_their_text() {
        let text = "[stages]\ncleanup = [\"InferShapes\", { name = \"X\" }] # é";
        assert_eq!(tokens(text).concat(), text);
    }

    #[test]
    fn mutations_stay_bounded_and_follow_the_seed() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut input = b"abc = [1, 2]".to_vec();
            for _ in 0..200 {
                text(&mut rng, &mut input, b"other = 3");
                bytes(&mut rng, &mut input, b"\x08\x96\x01");
                assert!(input.len() <= MAX_LEN);
            }
            input
        };
        assert_eq!(run(5), run(5));
    }
}
