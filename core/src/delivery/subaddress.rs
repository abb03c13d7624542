//! Subaddresses (RFC 5233): `alice+lists` is `alice` with the detail `lists`, for a
//! `recipient_delimiter` of `+`. Several delimiter characters may be given (as in
//! Postfix); the first of them in the local part splits it.

/// The user part and the detail of `local` (no detail without a delimiter, or for a
/// local part that starts with one: `+x` is a name of its own).
pub fn split_detail<'a>(local: &'a str, delimiters: &str) -> (&'a str, Option<&'a str>) {
    if delimiters.is_empty() {
        return (local, None);
    }
    match local.find(|c| delimiters.contains(c)) {
        Some(0) | None => (local, None),
        Some(i) => {
            let delimiter_len = local[i..].chars().next().map_or(1, char::len_utf8);
            (&local[..i], Some(&local[i + delimiter_len..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_delimiter_splits() {
        assert_eq!(split_detail("alice+lists", "+"), ("alice", Some("lists")));
        assert_eq!(split_detail("alice+a+b", "+"), ("alice", Some("a+b")));
        assert_eq!(split_detail("alice-x+y", "+-"), ("alice", Some("x+y")));
        assert_eq!(split_detail("alice+", "+"), ("alice", Some("")));
        assert_eq!(split_detail("alice", "+"), ("alice", None));
        assert_eq!(split_detail("+x", "+"), ("+x", None));
        assert_eq!(split_detail("alice+lists", ""), ("alice+lists", None));
    }
}
