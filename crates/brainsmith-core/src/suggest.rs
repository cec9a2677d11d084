//! Names in messages: "did you mean", the closest known name to a misspelt one, and
//! [`shorten`], a name from user input cut to a readable length for quoting (every
//! message that quotes a name from a model, a blueprint or the command line quotes it
//! through it, to [`QUOTED`] characters).

/// The candidate closest to `input`, if it is close enough to be a likely typo.
///
/// A case-insensitive exact match wins; otherwise the smallest edit distance, allowed up
/// to a third of the input's length (at least 1, at most 3).
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (input.chars().count() / 3).clamp(1, 3);
    let lower = input.to_lowercase();
    let length = lower.chars().count();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let other = candidate.to_lowercase();
        // The distance is at least the difference in length: a name far longer than
        // every candidate (a 10 MB one) costs no more than counting it.
        if other.chars().count().abs_diff(length) > limit {
            continue;
        }
        let d = distance(&lower, &other);
        if d <= limit && best.is_none_or(|(bd, bc)| (d, candidate) < (bd, bc)) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `"; did you mean 'X'?"`, or nothing.
pub(crate) fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(input, candidates)
        .map(|c| format!("; did you mean '{c}'?"))
        .unwrap_or_default()
}

/// `text` cut to its first `max` chars with the count of the rest, so that a message
/// quoting a huge name from a model stays readable.
pub fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => {
            std::borrow::Cow::Owned(format!("{}...({} bytes)", &text[..cut], text.len()))
        }
    }
}

/// Levenshtein distance over chars.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// How many characters of a name from user input a message quotes: `shorten(name,
/// QUOTED)`.
pub const QUOTED: usize = 60;

/// `message` with every occurrence of `name` shortened to [`QUOTED`] characters, for a
/// message made elsewhere that quotes `name` whole.
pub(crate) fn shorten_in(message: String, name: &str) -> String {
    match shorten(name, QUOTED) {
        std::borrow::Cow::Owned(short) if !name.is_empty() => message.replace(name, &short),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_far_longer_than_every_candidate_has_no_suggestion() {
        // 4 MB against short names: only their lengths are compared.
        let long = "LayerNorm".repeat(1 << 19);
        assert_eq!(closest(&long, ["LayerNorm", "Softmax"]), None);
        assert_eq!(closest("LayerNormXYZ", ["LayerNorm"]), Some("LayerNorm"));
        assert_eq!(closest("LayerNormWXYZ", ["LayerNorm"]), None);
    }

    #[test]
    fn long_names_are_shortened_at_a_character_boundary() {
        assert_eq!(shorten(&"x".repeat(60), QUOTED), "x".repeat(60));
        let wide = "é".repeat(61);
        assert_eq!(
            shorten(&wide, QUOTED),
            format!("{}...(122 bytes)", "é".repeat(60))
        );
        let long = "n".repeat(1000);
        assert_eq!(
            shorten_in(format!("unknown node '{long}' in '{long}'"), &long),
            format!(
                "unknown node '{0}...(1000 bytes)' in '{0}...(1000 bytes)'",
                "n".repeat(60)
            )
        );
        assert_eq!(shorten_in("short 'a'".into(), "a"), "short 'a'");
    }

    #[test]
    fn suggests_typos_only() {
        let names = ["LayerNorm", "Softmax", "MVAU"];
        assert_eq!(closest("LayerNrom", names), Some("LayerNorm"));
        assert_eq!(closest("layernorm", names), Some("LayerNorm"));
        assert_eq!(closest("Conv", names), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcdé", 3), "abc...(6 bytes)");
    }
}
