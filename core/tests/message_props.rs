//! Property tests of the message layer: round trips of address lists, dates, encoded
//! words, parameters and transfer encodings, and no panics on arbitrary input.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use postrider_core::imf::address::{parse_address_list, Address, Mailbox};
use postrider_core::imf::datetime::{parse_date, WallClock};
use postrider_core::imf::header::split_header;
use postrider_core::mime::content_type::parse_content_type;
use postrider_core::mime::encoded_word::{decode, encode, encode_phrase};
use postrider_core::mime::multipart::{parse_message, Limits};
use postrider_core::mime::transfer::{
    decode_base64, decode_quoted_printable, encode_base64_lines, encode_quoted_printable,
};

fn atom() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}"
}

fn mailbox() -> impl Strategy<Value = Mailbox<'static>> {
    (
        prop::option::of(prop_oneof![
            "[a-zA-Z]{1,8}( [a-zA-Z]{1,8}){0,2}",
            "[a-zA-Z ,;:@<>.]{1,12}"
        ]),
        prop::collection::vec(atom(), 1..3).prop_map(|v| v.join(".")),
        prop::collection::vec("[a-z0-9]{1,8}", 1..4).prop_map(|v| v.join(".")),
    )
        .prop_map(|(name, local, domain)| Mailbox {
            name: name
                .map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|n| !n.is_empty())
                .map(Into::into),
            route: None,
            local: local.into(),
            domain: domain.into(),
        })
}

fn render_mailbox(m: &Mailbox<'_>) -> String {
    match &m.name {
        Some(n) => format!("{} <{}>", encode_phrase(n), m.addr_spec()),
        None => m.addr_spec(),
    }
}

fn address() -> impl Strategy<Value = Address<'static>> {
    prop_oneof![
        3 => mailbox().prop_map(Address::Mailbox),
        1 => ("[a-zA-Z]{1,8}", prop::collection::vec(mailbox(), 0..3))
            .prop_map(|(name, members)| Address::Group { name: name.into(), members }),
    ]
}

fn render(list: &[Address<'_>]) -> String {
    list.iter()
        .map(|a| match a {
            Address::Mailbox(m) => render_mailbox(m),
            Address::Group { name, members } => {
                format!(
                    "{name}: {};",
                    members
                        .iter()
                        .map(render_mailbox)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        })
        .collect::<Vec<_>>()
        .join(",\r\n ")
}

proptest! {
    #[test]
    fn address_list_round_trip(list in prop::collection::vec(address(), 1..5)) {
        let text = render(&list);
        prop_assert_eq!(parse_address_list(&text), list, "{}", text);
    }

    #[test]
    fn date_round_trip(secs in -2_000_000_000i64..10_000_000_000, off in -720i32..=840) {
        let off = off / 15 * 15;
        let d = WallClock { unix_secs: secs, utc_offset_minutes: off };
        prop_assert_eq!(parse_date(&d.rfc5322()), Some(d));
    }

    #[test]
    fn encoded_word_round_trip(s in "\\PC{0,80}") {
        let e = encode(&s);
        prop_assert!(e.is_ascii());
        prop_assert_eq!(decode(&e), s);
    }

    #[test]
    fn parameter_round_trip(name in "[a-z][a-z0-9-]{0,10}", value in "[ -~]{0,30}") {
        prop_assume!(name != "boundary" || !value.is_empty());
        let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
        let ct = parse_content_type(&format!("text/plain; {name}=\"{quoted}\""));
        let decoded = if value.contains("=?") { decode(&value) } else { value.clone() };
        prop_assert_eq!(ct.param(&name), Some(decoded.as_str()));
    }

    #[test]
    fn base64_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..500)) {
        prop_assert_eq!(decode_base64(&encode_base64_lines(&bytes)), bytes);
    }

    #[test]
    fn quoted_printable_round_trip(lines in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no line ends", |b| *b != b'\n' && *b != b'\r'), 0..120), 1..6)) {
        let text = lines.join(&b"\r\n"[..]);
        let enc = encode_quoted_printable(&text);
        prop_assert!(enc.iter().all(|&b| b.is_ascii()));
        prop_assert!(enc.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        prop_assert_eq!(decode_quoted_printable(&enc), text);
    }

    #[test]
    fn no_panics_on_arbitrary_input(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = parse_address_list(&s);
        let _ = parse_date(&s);
        let _ = decode(&s);
        let _ = parse_content_type(&s);
        let _ = decode_base64(&bytes);
        let _ = decode_quoted_printable(&bytes);
        let (fields, body) = split_header(&bytes);
        prop_assert!(body <= bytes.len());
        for f in fields {
            prop_assert!(f.range.end <= bytes.len());
        }
        let root = parse_message(&bytes, Limits::default());
        prop_assert!(root.body.end <= bytes.len());
    }
}
