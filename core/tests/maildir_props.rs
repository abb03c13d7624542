//! Property tests of Maildir's text formats: flags written as info letters read back as
//! the same flags (all of them while the keywords fit in 26 letters), keyword tables and
//! `dovecot-uidlist` files round-trip, and a name's sizes and letters are found again.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use postrider_core::maildir::{
    flags_of, letters_for, representable, size_field, split_name, Keywords, UidRecord, Uidlist,
    MAX_KEYWORDS,
};

fn set(flags: &[String]) -> Vec<String> {
    let mut v: Vec<String> = flags.iter().map(|f| f.to_ascii_lowercase()).collect();
    v.sort();
    v.dedup();
    v
}

fn flag() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\\Seen",
            "\\Answered",
            "\\Flagged",
            "\\Deleted",
            "\\Draft"
        ])
        .prop_map(str::to_string),
        "\\$?[A-Za-z][A-Za-z0-9_]{0,8}",
    ]
}

proptest! {
    #[test]
    fn flags_round_trip_through_letters(flags in prop::collection::vec(flag(), 0..40)) {
        let mut keywords = Keywords::default();
        let letters = letters_for(&flags, &mut keywords, "P");
        prop_assert!(letters.contains('P'));
        let back = flags_of(&letters, &keywords);
        let distinct_keywords = set(&flags).iter().filter(|f| !f.starts_with('\\')).count();
        if distinct_keywords <= MAX_KEYWORDS {
            prop_assert_eq!(set(&back), set(&flags));
        } else {
            prop_assert_eq!(back.len(), set(&back).len());
            prop_assert!(set(&back).iter().all(|f| set(&flags).contains(f)));
        }
        prop_assert_eq!(set(&representable(&flags, &keywords)), set(&back));
        prop_assert_eq!(Keywords::parse(&keywords.to_text()), keywords);
        let mut sorted: Vec<char> = letters.chars().collect();
        sorted.sort_unstable();
        prop_assert_eq!(sorted.into_iter().collect::<String>(), letters);
    }

    #[test]
    fn uidlists_round_trip(
        validity in 1u32..,
        bases in prop::collection::vec("[0-9]{4}\\.M[0-9]{1,6}P[0-9]{1,5}\\.[a-z]{1,8}(,S=[0-9]{1,5})?", 0..20),
        ext in prop::collection::vec(prop_oneof![Just(String::new()), "W[0-9]{1,5}"], 20),
    ) {
        let mut list = Uidlist::new(validity, "0123456789abcdef0123456789abcdef");
        for (i, b) in bases.iter().enumerate() {
            let uid = list.add(b);
            prop_assert_eq!(uid as usize, i + 1);
        }
        for (r, e) in list.records.iter_mut().zip(ext) {
            r.ext = e;
        }
        let back = Uidlist::parse(&list.to_text()).unwrap();
        prop_assert_eq!(&back, &list);
        prop_assert!(back.records.iter().all(|r: &UidRecord| r.uid < back.next_uid));
    }

    #[test]
    fn names_give_back_their_parts(
        base in "[0-9]{4}\\.M[0-9]{1,6}P[0-9]{1,5}Q[0-9]{1,3}\\.[a-z.]{1,12}",
        s in 0u64..1_000_000_000,
        w in 0u64..1_000_000_000,
        letters in "[DFRST]{0,5}[a-z]{0,4}",
    ) {
        let full_base = format!("{base},S={s},W={w}");
        let name = format!("{full_base}:2,{letters}");
        prop_assert_eq!(split_name(&name), (full_base.as_str(), Some(letters.as_str())));
        prop_assert_eq!(size_field(&full_base, 'S'), Some(s));
        prop_assert_eq!(size_field(&full_base, 'W'), Some(w));
    }
}
