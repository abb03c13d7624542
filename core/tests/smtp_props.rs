//! Property tests: parse/encode round trips for every command and reply, the split
//! property of the streaming parsers, and byte-at-a-time equivalence of the server.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use postrider_core::smtp::data::{dot_stuff, DataReceiver};
use postrider_core::smtp::encode::{command_bytes, reply_bytes};
use postrider_core::smtp::parse::{command, reply};
use postrider_core::smtp::{
    Command, EnhancedCode, ForwardPath, Mailbox, Parameter, Reply, ReversePath, SmtpServerConfig,
};
use postrider_core::testing::SmtpTestDriver;

fn atom() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}"
}

fn local_part() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(atom(), 1..4).prop_map(|v| v.join(".")),
        "[a-zA-Z0-9 .,@<>()]{0,10}".prop_map(|s| format!("\"{s}\"")),
        "[a-z]{1,4}(ü|é|ß)[a-z]{0,3}",
    ]
}

fn domain() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", 1..4)
            .prop_map(|v| v.join(".")),
        (0u8..=255, 0u8..=255).prop_map(|(a, b)| format!("[192.0.{a}.{b}]")),
        Just("[IPv6:2001:db8::1]".to_string()),
    ]
}

fn mailbox() -> impl Strategy<Value = Mailbox> {
    (local_part(), domain()).prop_map(|(l, d)| Mailbox::new(l, d))
}

fn params() -> impl Strategy<Value = Vec<Parameter>> {
    prop::collection::vec(
        (
            "[A-Za-z0-9][A-Za-z0-9-]{0,8}",
            prop::option::of("[!-<>-~]{1,12}"),
        )
            .prop_map(|(k, v)| Parameter {
                keyword: k,
                value: v,
            }),
        0..4,
    )
}

fn text() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,30}[!-~])?"
}

fn cmd() -> impl Strategy<Value = Command> {
    prop_oneof![
        domain().prop_map(Command::Ehlo),
        domain().prop_map(Command::Helo),
        domain().prop_map(Command::Lhlo),
        (
            prop_oneof![
                Just(ReversePath::Null),
                mailbox().prop_map(ReversePath::Mailbox)
            ],
            params()
        )
            .prop_map(|(from, params)| Command::Mail { from, params }),
        (
            prop_oneof![
                Just(ForwardPath::Postmaster),
                mailbox().prop_map(ForwardPath::Mailbox)
            ],
            params()
        )
            .prop_map(|(to, params)| Command::Rcpt { to, params }),
        Just(Command::Data),
        (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Command::Bdat {
            size: size % 10_000_000_000_000_000_000,
            last
        }),
        Just(Command::Rset),
        Just(Command::Quit),
        Just(Command::StartTls),
        prop::option::of(text()).prop_map(Command::Noop),
        prop::option::of(text()).prop_map(Command::Help),
        text().prop_map(Command::Vrfy),
        text().prop_map(Command::Expn),
        (
            "[A-Z0-9-]{1,12}",
            prop::option::of("[A-Za-z0-9+/]{1,20}={0,2}")
        )
            .prop_map(|(mechanism, initial_response)| Command::Auth {
                mechanism,
                initial_response
            }),
    ]
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    (
        2u16..=5,
        0u16..=99,
        prop::bool::ANY,
        0u16..=9,
        0u16..=20,
        prop::collection::vec("([a-zA-Z][ -~]{0,30})?", 1..5),
    )
        .prop_filter("class 3 has no enhanced codes", |(c, _, e, ..)| {
            !(*c == 3 && *e)
        })
        .prop_map(|(class, rest, with_enh, s, d, lines)| Reply {
            code: class * 100 + rest,
            enhanced: with_enh.then(|| EnhancedCode::new(class as u8, s, d)),
            lines,
        })
}

proptest! {
    #[test]
    fn command_round_trip(c in cmd()) {
        let wire = command_bytes(&c);
        let (rest, parsed) = command(&wire).map_err(|e| TestCaseError::fail(format!("{e:?} for {:?}", String::from_utf8_lossy(&wire))))?;
        prop_assert!(rest.is_empty());
        prop_assert_eq!(parsed, c);
    }

    #[test]
    fn command_bytes_round_trip(c in cmd()) {
        let wire = command_bytes(&c);
        let (_, parsed) = command(&wire).unwrap();
        prop_assert_eq!(command_bytes(&parsed), wire);
    }

    #[test]
    fn command_prefixes_are_incomplete(c in cmd()) {
        let wire = command_bytes(&c);
        for n in 0..wire.len() {
            prop_assert!(matches!(command(&wire[..n]), Err(nom::Err::Incomplete(_))), "prefix {}", n);
        }
    }

    #[test]
    fn reply_round_trip(r in reply_strategy()) {
        let wire = reply_bytes(&r);
        let (rest, parsed) = reply(&wire).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&parsed, &r);
        for n in 0..wire.len() {
            prop_assert!(matches!(reply(&wire[..n]), Err(nom::Err::Incomplete(_))));
        }
    }

    #[test]
    fn parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = command(&bytes);
        let _ = reply(&bytes);
    }

    #[test]
    fn data_stuffing_round_trip(lines in prop::collection::vec("[.]{0,3}[ -~]{0,20}", 0..20)) {
        let body: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        let mut wire = Vec::new();
        dot_stuff(body.as_bytes(), &mut wire);
        let mut rx = DataReceiver::new(1 << 20, 1000);
        let mut out = Vec::new();
        let used = rx.feed(&wire, &mut out);
        prop_assert!(rx.is_done());
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(out, body.into_bytes());
    }

    #[test]
    fn server_survives_arbitrary_chunks(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20)) {
        let mut d = SmtpTestDriver::new(SmtpServerConfig::default(), &[], std::time::Instant::now());
        for c in &chunks {
            d.feed(c);
        }
        for r in d.replies() {
            prop_assert!((200..600).contains(&r.code));
        }
    }

    #[test]
    fn server_split_anywhere_gives_same_session(splits in prop::collection::vec(0usize..400, 0..12)) {
        let script = session_script();
        let whole = run_chunks(&[&script]);
        let mut cuts: Vec<usize> = splits.into_iter().map(|s| s % script.len()).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut chunks = Vec::new();
        let mut last = 0;
        for c in cuts {
            chunks.push(&script[last..c]);
            last = c;
        }
        chunks.push(&script[last..]);
        let split = run_chunks(&chunks);
        prop_assert_eq!(split.0, whole.0);
        prop_assert_eq!(split.1, whole.1);
    }
}

/// The reference for where DATA ends: the first `CRLF . CRLF`, where the start of the data
/// counts as a CRLF. Returns the octets consumed, whether a bare CR or LF came before, and
/// the unstuffed content.
fn data_end_model(input: &[u8]) -> Option<(usize, bool, Vec<u8>)> {
    let mut wire = b"\r\n".to_vec();
    wire.extend_from_slice(input);
    let at = wire.windows(5).position(|w| w == b"\r\n.\r\n")?;
    let content = &wire[2..at + 2];
    let bare = content.iter().enumerate().any(|(i, &b)| {
        (b == b'\r' && content.get(i + 1) != Some(&b'\n'))
            || (b == b'\n' && (i == 0 || content[i - 1] != b'\r'))
    });
    let mut unstuffed = Vec::new();
    for line in content.split_inclusive(|&b| b == b'\n') {
        unstuffed.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    Some((at + 3, bare, unstuffed))
}

/// Bytes drawn mostly from the octets that matter to the end of data.
fn data_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'\r', b'\n', b'.', b'a', 0u8, 0xff]),
        0..60,
    )
}

proptest! {
    /// The receiver ends exactly where the model does (only at a real CRLF . CRLF, never
    /// after a bare CR or LF), refuses iff the model saw a bare CR or LF, and gives the same
    /// verdict however the input is split.
    #[test]
    fn data_ends_only_at_crlf_dot_crlf(input in data_bytes(), cuts in prop::collection::vec(0usize..60, 0..6)) {
        let mut rx = DataReceiver::new(1 << 20, 1 << 20);
        let mut out = Vec::new();
        let mut used = 0;
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
        bounds.push(input.len());
        bounds.sort_unstable();
        for end in bounds {
            if end > used && !rx.is_done() {
                used += rx.feed(&input[used..end], &mut out);
            }
        }
        match data_end_model(&input) {
            None => prop_assert!(!rx.is_done()),
            Some((end, bare, content)) => {
                prop_assert!(rx.is_done());
                prop_assert_eq!(used, end);
                prop_assert_eq!(rx.error().is_some(), bare);
                if !bare {
                    prop_assert_eq!(out, content);
                }
            }
        }
    }
}

/// The smuggling attack of CVE-2023-51764 and its variants, against the whole server: one
/// DATA, one refusal, no second transaction, whether fed whole or a byte at a time.
#[test]
fn smuggled_transaction_is_never_run() {
    let variants: [&[u8]; 6] = [
        b"\n.\n",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\r\n.\r\r\n",
    ];
    for v in variants {
        let mut script =
            b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n".to_vec();
        script.extend_from_slice(b"first body\x00\xe9");
        script.extend_from_slice(v);
        script.extend_from_slice(
            b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\nforged\r\n.\r\nNOOP\r\n",
        );
        let whole = run_chunks(&[&script]);
        let bytes: Vec<&[u8]> = script.chunks(1).collect();
        assert_eq!(run_chunks(&bytes), whole, "{v:?}");
        assert!(whole.1.is_empty(), "{v:?}: a message was queued");
        let mut d =
            SmtpTestDriver::new(SmtpServerConfig::default(), &[], std::time::Instant::now());
        d.feed(&script);
        assert_eq!(d.codes(), [220, 250, 250, 250, 354, 550, 250], "{v:?}");
    }
}

fn session_script() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(
        b"EHLO client.example\r\nMAIL FROM:<a@b.example> SIZE=100\r\nRCPT TO:<x@y.example>\r\n",
    );
    s.extend_from_slice(
        b"RCPT TO:<x@y.example>\r\nBOGUS\r\nDATA\r\nSubject: t\r\n\r\n..dot\r\nline\r\n.\r\n",
    );
    s.extend_from_slice(b"MAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nDATA\r\nbare\nlf\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n");
    s
}

fn run_chunks(chunks: &[&[u8]]) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let mut d = SmtpTestDriver::new(SmtpServerConfig::default(), &[], std::time::Instant::now());
    for c in chunks {
        d.feed(c);
    }
    let msgs = d
        .messages
        .iter()
        .map(|(e, b)| (format!("{e:?}"), b.clone()))
        .collect();
    (d.transcript, msgs)
}

#[test]
fn byte_at_a_time_equals_whole() {
    let script = session_script();
    let whole = run_chunks(&[&script]);
    let bytes: Vec<&[u8]> = script.chunks(1).collect();
    let single = run_chunks(&bytes);
    assert_eq!(single, whole);
    assert_eq!(whole.1.len(), 1, "the bare-LF message must be refused");
    let codes: Vec<u16> = {
        let mut d =
            SmtpTestDriver::new(SmtpServerConfig::default(), &[], std::time::Instant::now());
        d.feed(&script);
        d.codes()
    };
    assert_eq!(
        codes,
        [220, 250, 250, 250, 250, 500, 354, 250, 250, 250, 354, 550, 250, 250, 221]
    );
}

proptest! {
    /// Any PLAIN message built from NUL-free parts parses back to the same parts.
    #[test]
    fn sasl_plain_round_trip(
        authzid in "[^\u{0}]{0,12}",
        user in "[^\u{0}]{1,12}",
        pass in "[^\u{0}]{0,20}",
    ) {
        use postrider_core::sasl::{decode_response, encode_plain, parse_plain};
        let wire = encode_plain(&authzid, &user, &pass);
        let c = parse_plain(&decode_response(wire.as_bytes()).unwrap()).unwrap();
        prop_assert_eq!(&c.username, &user);
        prop_assert_eq!(c.password.expose(), pass.as_str());
        let want = if authzid.is_empty() || authzid == user { None } else { Some(authzid.clone()) };
        prop_assert_eq!(c.authzid, want);
    }

    /// xtext encoding round-trips any text and always yields valid xtext.
    #[test]
    fn xtext_round_trip(text in "\\PC{0,30}") {
        use postrider_core::smtp::dsn::{decode_xtext, encode_xtext, is_xtext};
        let x = encode_xtext(&text);
        prop_assert!(is_xtext(&x));
        prop_assert_eq!(decode_xtext(&x).unwrap(), text);
    }
}
