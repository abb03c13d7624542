//! Property tests of the webmail's pure text edits: the vacation reply's file reads back
//! as written, and switching the vacation pipe on then off gives back the `.forward`
//! targets the user had.

use postrider_core::delivery::aliases::parse_target_list;
use postrider_core::web::vacation::{
    forward_with_vacation, forward_without_vacation, read_template, vacation_enabled,
    vacation_template,
};
use proptest::prelude::*;

const PIPE: &str = "/usr/sbin/postrider vacation alice";

proptest! {
    #[test]
    fn a_vacation_template_reads_back(subject in "[^\r\n]{0,40}", text in "\\PC{0,200}") {
        let written = vacation_template(&subject, &text);
        let (s, t) = read_template(written.as_bytes());
        prop_assert_eq!(s, subject.trim().to_string());
        let mut want = text.replace("\r\n", "\n");
        if !want.is_empty() && !want.ends_with('\n') {
            want.push('\n');
        }
        prop_assert_eq!(t, want);
    }

    #[test]
    fn vacation_on_then_off_keeps_the_other_targets(
        targets in proptest::collection::vec("[a-z]{1,8}(@[a-z]{1,6}\\.test)?", 0..4),
        keep_self in any::<bool>(),
    ) {
        let mut lines: Vec<String> = targets.clone();
        if keep_self {
            lines.insert(0, "\\alice".into());
        }
        let forward = lines.join("\n");
        let on = forward_with_vacation(&forward, "alice", PIPE);
        prop_assert!(vacation_enabled(&on));
        let off = forward_without_vacation(&on, "alice");
        let before = parse_target_list(&forward);
        match off {
            None => prop_assert!(before.is_empty() || before == vec!["\\alice".to_string()]),
            Some(rest) => prop_assert_eq!(parse_target_list(&rest), before),
        }
    }
}
