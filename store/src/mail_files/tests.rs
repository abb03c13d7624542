use super::*;

#[test]
fn wildcards() {
    assert!(wildcard_match("*", "a/b"));
    assert!(!wildcard_match("%", "a/b"));
    assert!(wildcard_match("a/%", "a/b"));
    assert!(wildcard_match("inbox", "INBOX"));
    assert!(wildcard_match("S*", "Sent"));
    assert!(!wildcard_match("S*", "Trash"));
}

#[test]
fn folder_names_are_printable_mutf7_without_dot_files() {
    assert!(
        valid_folder("Work/2024")
            && !valid_folder("../etc")
            && !valid_folder("a//b")
            && !valid_folder(".hidden")
            && valid_folder("Entw&APw-rfe")
            && !valid_folder("Entw\u{fc}rfe")
            && !valid_folder("a&b")
    );
}

#[test]
fn folder_names_never_take_the_place_of_internal_files() {
    for bad in [
        "x.lock",
        "Work/x.LOCK",
        "x.lock.123.456",
        "x.index",
        "x.index/y",
        "x.index.log2",
        "x.index.tmp",
        "~",
        "~root",
        "a/~b",
        "notes~",
    ] {
        assert!(!valid_folder(bad), "{bad}");
    }
    for good in [
        "locksmith",
        "x.locked",
        "indexes",
        "my.indexer",
        "a~b",
        "Lists/lock",
    ] {
        assert!(valid_folder(good), "{good}");
    }
}
