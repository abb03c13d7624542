//! Maildir's text formats on arbitrary input: a file name, a `dovecot-uidlist` and a
//! `dovecot-keywords` file. A parsed list or keyword table must write out and parse back
//! to the same thing, and flag letters must turn into flags and back without change.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::maildir::{
    flags_of, letters_for, size_field, split_name, Keywords, Uidlist,
};

/// Flags as IMAP compares them: a set, case aside.
fn set(flags: &[String]) -> Vec<String> {
    let mut v: Vec<String> = flags.iter().map(|f| f.to_ascii_lowercase()).collect();
    v.sort();
    v.dedup();
    v
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (base, letters) = split_name(&text);
    let _ = size_field(base, 'S');
    let keywords = Keywords::parse(&text);
    assert_eq!(Keywords::parse(&keywords.to_text()), keywords);
    if let Some(letters) = letters {
        let flags = flags_of(letters, &keywords);
        let mut table = keywords.clone();
        let again = letters_for(&flags, &mut table, letters);
        assert_eq!(set(&flags_of(&again, &table)), set(&flags));
    }
    if let Some(list) = Uidlist::parse(&text) {
        let again = Uidlist::parse(&list.to_text()).expect("a written list parses");
        assert_eq!(again, list);
    }
});
