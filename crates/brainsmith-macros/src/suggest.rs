//! "Did you mean": the closest candidate by edit distance.

/// The candidate closest to `input` (case-insensitive Levenshtein distance), if any.
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&input, &c.to_ascii_lowercase()), c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Whether `candidate` is close enough to `input` to be a likely typo: at most a third
/// of the input's characters differ (at least one).
pub(crate) fn is_close(input: &str, candidate: &str) -> bool {
    let limit = (input.chars().count() / 3).max(1);
    distance(&input.to_ascii_lowercase(), &candidate.to_ascii_lowercase()) <= limit
}

fn distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_nearest_key() {
        assert_eq!(closest("stag", ["name", "stage", "tags"]), Some("stage"));
        assert_eq!(closest("op_type", ["op_types", "domain"]), Some("op_types"));
        assert_eq!(closest("x", []), None);
        assert!(is_close("clenup", "cleanup"));
        assert!(!is_close("vhdl", "hls"));
    }
}
