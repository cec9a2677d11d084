//! "Did you mean": the closest known name to a misspelt one.

/// The candidate closest to `input`, if it is close enough to be a likely typo.
///
/// A case-insensitive exact match wins; otherwise the smallest edit distance, allowed up
/// to a third of the input's length (at least 1, at most 3).
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = input.to_lowercase();
    let limit = (input.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let d = distance(&lower, &candidate.to_lowercase());
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
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(prev + usize::from(ca != *cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

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
