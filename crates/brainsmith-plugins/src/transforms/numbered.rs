//! `<base><sep><n>` names, written without the formatting machinery: the naming
//! transforms make one per node or tensor, and `format!` was a tenth of a cleanup run.

/// Writes `<base><sep><n>` into `out`, replacing what it held (its buffer is reused).
pub(crate) fn write_numbered(out: &mut String, base: &str, sep: &str, n: usize) {
    out.clear();
    out.push_str(base);
    out.push_str(sep);
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// `<base><sep><n>`.
pub(crate) fn numbered(base: &str, sep: &str, n: usize) -> String {
    let mut out = String::with_capacity(base.len() + sep.len() + 4);
    write_numbered(&mut out, base, sep, n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 99, 100, 12_345, usize::MAX] {
            assert_eq!(numbered("Conv", "_", n), format!("Conv_{n}"));
        }
        let mut out = "a much longer previous name".to_owned();
        write_numbered(&mut out, "x", "_out", 3);
        assert_eq!(out, "x_out3");
    }
}
