//! aliases(5) files, `:include:`/`.forward` target lists and target classification on
//! arbitrary text: every entry parsed has a lowercase name without whitespace and at
//! least one target, lookups find it case-insensitively, and classifying any target
//! never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::delivery::aliases::{parse_target_list, split_targets, Aliases, Target};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (aliases, errors) = Aliases::parse(&text);
    assert!(aliases.len() + errors.len() <= text.lines().count());
    for (name, targets) in aliases.entries() {
        assert!(!name.is_empty());
        assert!(!name.contains(char::is_whitespace));
        assert_eq!(name, name.to_ascii_lowercase());
        assert!(!targets.is_empty());
        assert_eq!(aliases.get(&name.to_ascii_uppercase()), Some(targets));
        for t in targets {
            assert!(!t.is_empty());
            let _ = Target::classify(t, |d| d.len() % 2 == 0);
        }
    }
    for t in parse_target_list(&text)
        .into_iter()
        .chain(split_targets(&text))
    {
        assert!(!t.is_empty());
        match Target::classify(&t, |d| d.ends_with("example")) {
            Target::Local(n) | Target::Mailbox(n) => assert_eq!(n, n.to_ascii_lowercase()),
            _ => {}
        }
    }
});
