//! The ManageSieve machine (RFC 5804): capabilities before and after STARTTLS, logins only
//! over TLS, the script commands with their response codes, scripts checked by the Sieve
//! compiler, literals over the limit dropped, and input split anywhere answered alike.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use postrider_core::managesieve::server::{valid_name, ManageSieveConfig};
use postrider_core::managesieve::testing::ManageSieveTestDriver;
use postrider_core::managesieve::{encode_command, parse_command, Command};
use postrider_core::sasl::encode_plain;
use postrider_core::testing::split_at_cuts;

fn config() -> ManageSieveConfig {
    let mut c = ManageSieveConfig::default();
    c.hostname = "mx.example".into();
    c.starttls = true;
    c
}

/// A driver past STARTTLS and logged in as alice.
fn logged_in() -> ManageSieveTestDriver {
    let mut d = ManageSieveTestDriver::new(config(), Instant::now());
    d.feed(b"STARTTLS\r\n");
    d.finish_tls();
    let plain = encode_plain("", "alice", "secret");
    d.feed(format!("AUTHENTICATE \"PLAIN\" \"{plain}\"\r\n").as_bytes());
    assert!(d.text().ends_with("OK \"Logged in.\"\r\n"), "{}", d.text());
    d.transcript.clear();
    d
}

#[test]
fn greeting_lists_capabilities_and_no_sasl_before_tls() {
    let mut d = ManageSieveTestDriver::new(config(), Instant::now());
    let t = d.text();
    assert!(t.starts_with("\"IMPLEMENTATION\" \"postrider\"\r\n"), "{t}");
    assert!(t.contains("\"SIEVE\" \"fileinto "), "{t}");
    assert!(t.contains("\"SASL\" \"\"\r\n"), "{t}");
    assert!(t.contains("\"STARTTLS\"\r\n"), "{t}");
    assert!(t.contains("\"VERSION\" \"1.0\"\r\n"), "{t}");
    assert!(
        t.ends_with("OK \"mx.example ManageSieve (postrider) ready.\"\r\n"),
        "{t}"
    );
    d.transcript.clear();
    d.feed(b"AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n");
    assert!(d.text().starts_with("NO (ENCRYPT-NEEDED)"), "{}", d.text());
    d.transcript.clear();
    d.feed(b"LISTSCRIPTS\r\n");
    assert!(d.text().starts_with("NO "), "{}", d.text());
    // Input pipelined behind STARTTLS is dropped; the capabilities come again after.
    d.transcript.clear();
    d.feed(b"STARTTLS\r\nLOGOUT\r\n");
    assert!(d.tls_requested);
    d.finish_tls();
    let t = d.text();
    assert!(!t.contains("Logout"), "{t}");
    assert!(
        t.contains("\"SASL\" \"PLAIN LOGIN\"\r\n") && !t.contains("\"STARTTLS\""),
        "{t}"
    );
    assert!(t.ends_with("OK \"TLS negotiation successful.\"\r\n"), "{t}");
}

#[test]
fn plain_login_with_a_challenge_and_failures_held_then_closed() {
    let mut d = ManageSieveTestDriver::new(config(), Instant::now());
    d.feed(b"STARTTLS\r\n");
    d.finish_tls();
    d.transcript.clear();
    d.feed(b"AUTHENTICATE \"PLAIN\"\r\n");
    assert_eq!(d.text(), "\"\"\r\n");
    let bad = encode_plain("", "alice", "wrong");
    d.feed(format!("{{{}+}}\r\n{bad}\r\n", bad.len()).as_bytes());
    assert!(!d.text().contains("NO"), "held back: {}", d.text());
    d.advance(Duration::from_secs(5));
    assert!(
        d.text().ends_with("NO \"Authentication failed.\"\r\n"),
        "{}",
        d.text()
    );
    for _ in 0..2 {
        d.feed(format!("AUTHENTICATE \"PLAIN\" \"{bad}\"\r\n").as_bytes());
        d.advance(Duration::from_secs(10));
    }
    assert!(
        d.text()
            .ends_with("BYE \"Too many authentication failures.\"\r\n"),
        "{}",
        d.text()
    );
    assert!(d.server_closed());
}

trait Closed {
    fn server_closed(&self) -> bool;
}

impl Closed for ManageSieveTestDriver {
    fn server_closed(&self) -> bool {
        use postrider_core::machine::Machine;
        self.server.is_closed()
    }
}

#[test]
fn scripts_are_put_listed_fetched_activated_renamed_and_deleted() {
    let mut d = logged_in();
    let script =
        "require \"fileinto\";\r\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\r\n";
    d.feed(format!("PUTSCRIPT \"main\" {{{}+}}\r\n{script}\r\n", script.len()).as_bytes());
    d.feed(b"PUTSCRIPT \"other\" \"keep;\"\r\nSETACTIVE \"main\"\r\nLISTSCRIPTS\r\n");
    let t = d.text();
    assert!(
        t.contains("\"main\" ACTIVE\r\n\"other\"\r\nOK \"Listscripts completed.\"\r\n"),
        "{t}"
    );
    d.transcript.clear();
    d.feed(b"GETSCRIPT \"main\"\r\n");
    assert_eq!(
        d.text(),
        format!(
            "{{{}}}\r\n{script}\r\nOK \"Getscript completed.\"\r\n",
            script.len()
        )
    );
    d.transcript.clear();
    d.feed(b"DELETESCRIPT \"main\"\r\nRENAMESCRIPT \"main\" \"other\"\r\n");
    d.feed(b"RENAMESCRIPT \"main\" \"new\"\r\nGETSCRIPT \"main\"\r\nDELETESCRIPT \"other\"\r\n");
    d.feed(b"SETACTIVE \"gone\"\r\nSETACTIVE \"\"\r\nDELETESCRIPT \"new\"\r\nLISTSCRIPTS\r\n");
    let t = d.text();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines,
        [
            "NO (ACTIVE) \"You may not delete an active script.\"",
            "NO (ALREADYEXISTS) \"A script with that name exists.\"",
            "OK \"Renamescript completed.\"",
            "NO (NONEXISTENT) \"There is no script by that name.\"",
            "OK \"Deletescript completed.\"",
            "NO (NONEXISTENT) \"There is no script by that name.\"",
            "OK \"Setactive completed.\"",
            "OK \"Deletescript completed.\"",
            "OK \"Listscripts completed.\"",
        ],
        "{t}"
    );
    assert_eq!(d.active, None);
    assert!(d.scripts.is_empty());
}

#[test]
fn bad_scripts_are_refused_with_line_and_column() {
    let mut d = logged_in();
    d.feed(b"PUTSCRIPT \"bad\" {22+}\r\nkeep;\r\nfrobnicate 1;\r\n\r\n");
    let t = d.text();
    assert!(t.starts_with("NO \"line 2:"), "{t}");
    assert!(d.scripts.is_empty());
    d.transcript.clear();
    d.feed(b"CHECKSCRIPT \"require \\\"nope\\\";\"\r\nCHECKSCRIPT \"keep;\"\r\n");
    let t = d.text();
    assert!(t.starts_with("NO \"line 1:"), "{t}");
    assert!(t.ends_with("OK \"Script is valid.\"\r\n"), "{t}");
    d.transcript.clear();
    d.feed(b"PUTSCRIPT \"bin\" {3+}\r\n\xff\xfe;\r\n");
    assert!(d.text().contains("not UTF-8"), "{}", d.text());
}

#[test]
fn sizes_names_and_script_counts_are_limited() {
    let mut d = logged_in();
    d.max_scripts = 1;
    d.feed(b"HAVESPACE \"a\" 1000\r\nHAVESPACE \"a\" 999999999\r\n");
    d.feed(b"PUTSCRIPT \"a\" \"keep;\"\r\nHAVESPACE \"b\" 10\r\nPUTSCRIPT \"b\" \"keep;\"\r\n");
    d.feed(b"PUTSCRIPT \"\" \"keep;\"\r\nGETSCRIPT \"a\x01\"\r\n");
    // A literal over the limit: refused, its octets never read as commands.
    let big = vec![b'#'; 300 * 1024];
    d.feed(b"PUTSCRIPT \"huge\" {307200+}\r\n");
    d.feed(&big[..1000]);
    d.feed(&big[1000..]);
    d.feed(b"\r\nNOOP \"t1\"\r\n");
    let t = d.text();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines,
        [
            "OK \"Havespace completed.\"",
            "NO (QUOTA/MAXSIZE) \"Script too large.\"",
            "OK \"Putscript completed.\"",
            "NO (QUOTA/MAXSCRIPTS) \"Too many scripts.\"",
            "NO (QUOTA/MAXSCRIPTS) \"Too many scripts.\"",
            "NO \"Invalid script name.\"",
            "NO \"Invalid script name.\"",
            "NO (QUOTA/MAXSIZE) \"Literal too large.\"",
            "OK (TAG \"t1\") \"Done\"",
        ],
        "{t}"
    );
    assert!(!valid_name("a\u{2028}b") && valid_name("Ünïcode name"));
}

#[test]
fn unauthenticate_and_logout() {
    let mut d = logged_in();
    d.feed(b"UNAUTHENTICATE\r\nLISTSCRIPTS\r\nLOGOUT\r\n");
    let t = d.text();
    assert!(
        t.starts_with("OK \"Unauthenticate completed.\"\r\nNO "),
        "{t}"
    );
    assert!(t.ends_with("OK \"Logout completed.\"\r\n"), "{t}");
    assert!(d.server_closed());
}

#[test]
fn idle_sessions_are_closed() {
    let mut d = logged_in();
    d.advance(Duration::from_secs(601));
    assert!(d
        .text()
        .ends_with("BYE \"Disconnected for inactivity.\"\r\n"));
    assert!(d.server_closed());
}

fn session() -> Vec<u8> {
    let plain = encode_plain("", "alice", "secret");
    let mut s = format!(
        "CAPABILITY\r\nAUTHENTICATE \"PLAIN\" {{{}+}}\r\n{plain}\r\n",
        plain.len()
    )
    .into_bytes();
    s.extend_from_slice(b"PUTSCRIPT \"a\" {7+}\r\nkeep;\r\n\r\nSETACTIVE \"a\"\r\n");
    s.extend_from_slice(b"PUTSCRIPT \"b\" \"frob;\"\r\nLISTSCRIPTS\r\nGETSCRIPT \"a\"\r\n");
    s.extend_from_slice(b"NOOP\r\nBOGUS\r\nLOGOUT\r\n");
    s
}

fn run(chunks: &[&[u8]]) -> Vec<u8> {
    let mut c = config();
    c.allow_plaintext_auth = true;
    let mut d = ManageSieveTestDriver::new(c, Instant::now());
    for chunk in chunks {
        d.feed(chunk);
    }
    d.transcript
}

proptest::proptest! {
    /// Split anywhere, the session answers as when it arrives whole.
    #[test]
    fn split_input_answers_as_whole(cuts in proptest::collection::vec(0usize..400, 0..8)) {
        let s = session();
        let whole = run(&[&s]);
        proptest::prop_assert_eq!(run(&split_at_cuts(&s, &cuts)), whole);
    }

    /// Every command written as a client writes it parses back to itself.
    #[test]
    fn commands_round_trip(
        name in "[^\u{0}-\u{1f}\u{7f}-\u{9f}]{1,20}",
        other in "[a-zA-Z0-9 ]{1,12}",
        script in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        size in 0u64..1_000_000,
    ) {
        let cmds = [
            Command::PutScript { name: name.clone(), script: script.clone() },
            Command::CheckScript(script),
            Command::HaveSpace { name: name.clone(), size },
            Command::RenameScript { old: name.clone(), new: other.clone() },
            Command::GetScript(name.clone()),
            Command::SetActive(name.clone()),
            Command::DeleteScript(name),
            Command::Noop(Some(other)),
            Command::Authenticate { mechanism: "PLAIN".into(), initial: Some(b"AGEAYg==".to_vec()) },
            Command::ListScripts,
            Command::Logout,
        ];
        for cmd in cmds {
            proptest::prop_assert_eq!(parse_command(&encode_command(&cmd)), Ok(cmd));
        }
    }
}

#[test]
fn the_whole_session_is_answered_in_order() {
    let t = String::from_utf8(run(&[&session()])).unwrap();
    assert!(t.contains("OK \"Logged in.\"\r\nOK \"Putscript completed.\"\r\nOK \"Setactive completed.\"\r\nNO \"line 1:"), "{t}");
    assert!(
        t.contains("\"a\" ACTIVE\r\nOK \"Listscripts completed.\"\r\n{7}\r\nkeep;\r\n\r\nOK"),
        "{t}"
    );
    assert!(
        t.ends_with("NO \"Unknown command\"\r\nOK \"Logout completed.\"\r\n"),
        "{t}"
    );
}
