//! The interpreter's tests: RFC 5228's examples and the extensions'.

use super::*;

fn run(script: &str, msg: &str) -> Vec<Action> {
    Script::compile(script)
        .unwrap_or_else(|e| panic!("{script}: {e:?}"))
        .run(&MessageContext {
            message: msg.as_bytes(),
            envelope_from: "coyote@desert.example.org",
            envelope_to: "roadrunner@acme.example.com",
            delimiters: "+",
            mailboxes: &[],
            library: &Library::default(),
            now: WallClock::utc(1_000_000_000),
        })
        .unwrap()
}

const MSG: &str = "Date: Tue, 1 Apr 1997 09:06:31 -0800 (PST)\r\nFrom: coyote@desert.example.org\r\nTo: roadrunner@acme.example.com\r\nSubject: I have a present for you\r\nX-Caffeine: C8H10N4O2\r\n\r\nLook, I'm sorry about the whole anvil thing.\r\n";

#[test]
fn rfc5228_examples() {
    // §2.10.2-like: implicit keep when nothing matches.
    assert_eq!(
        run(
            "if header :contains \"subject\" \"nothing\" { discard; }",
            MSG
        ),
        vec![Action::Keep { flags: vec![] }]
    );
    // §5.7 exists / size / anyof / not.
    let s = "require \"fileinto\";\nif allof (exists [\"From\",\"Date\"], size :under 1M, not header :is \"X-Caffeine\" \"\") {\n  fileinto \"junk\";\n}";
    assert_eq!(
        run(s, MSG),
        vec![Action::FileInto {
            mailbox: "junk".into(),
            flags: vec![]
        }]
    );
    // §2.7.1 :matches with wildcards and escapes.
    assert!(glob("i have a present for you", "*present*"));
    assert!(glob("a*b", "a\\*b") && !glob("axb", "a\\*b"));
    assert!(glob("abc", "a?c") && !glob("ac", "a?c"));
    assert!(glob(&"a".repeat(200), &"*a".repeat(50)));
    // address parts and envelope.
    let s = "require \"envelope\";\nif address :domain :is \"from\" \"DESERT.example.org\" { discard; }\nif envelope :localpart :is \"to\" \"roadrunner\" { keep; }";
    assert_eq!(run(s, MSG), vec![Action::Keep { flags: vec![] }]);
    // i;octet is case-sensitive; numeric compares numbers.
    assert_eq!(run("if header :comparator \"i;octet\" :is \"subject\" \"i have a present for you\" { discard; }", MSG).len(), 1);
    let s = "require \"comparator-i;ascii-numeric\";\nif header :comparator \"i;ascii-numeric\" :is \"X-N\" \"007\" { discard; }";
    assert_eq!(run(s, "X-N: 7 apples\r\n\r\n"), vec![]);
}

#[test]
fn stop_discard_redirect_copy_and_flags() {
    assert_eq!(run("discard; stop; keep;", MSG), vec![]);
    assert_eq!(
        run("require \"copy\";\nredirect :copy \"a@b.example\";", MSG),
        vec![
            Action::Redirect {
                address: "a@b.example".into()
            },
            Action::Keep { flags: vec![] }
        ]
    );
    let s = "require [\"imap4flags\", \"fileinto\"];\naddflag \"\\\\Seen $Work\";\nif hasflag :contains \"$work\" { fileinto :flags \"\\\\Flagged\" \"Work\"; }\nremoveflag \"$Work\";\nkeep;";
    assert_eq!(
        run(s, MSG),
        vec![
            Action::FileInto {
                mailbox: "Work".into(),
                flags: vec!["\\Flagged".into()]
            },
            Action::Keep {
                flags: vec!["\\Seen".into()]
            },
        ]
    );
    let many = "redirect \"a@x.example\"; redirect \"b@x.example\"; redirect \"c@x.example\"; redirect \"d@x.example\"; redirect \"e@x.example\"; redirect \"f@x.example\";";
    assert!(Script::compile(many)
        .unwrap()
        .run(&MessageContext {
            message: MSG.as_bytes(),
            envelope_from: "",
            envelope_to: "",
            delimiters: "+",
            mailboxes: &[],
            library: &Library::default(),
            now: WallClock::utc(1_000_000_000),
        })
        .is_err());
}

#[test]
fn vacation_and_reject() {
    let s = "require \"vacation\";\nvacation :days 3 :subject \"Away\" :addresses [\"rr@acme.example.com\"] text:\nI am away.\n..dot\n.\n;";
    let acts = run(s, MSG);
    let Action::Vacation(v) = &acts[0] else {
        panic!("{acts:?}")
    };
    assert_eq!((v.days, v.subject.as_deref()), (3, Some("Away")));
    assert_eq!(v.reason, "I am away.\r\n.dot\r\n");
    assert_eq!(acts[1], Action::Keep { flags: vec![] });
    assert_eq!(
        run("require \"reject\"; reject \"no thanks\";", MSG),
        vec![Action::Reject {
            reason: "no thanks".into()
        }]
    );
    assert!(Script::compile("require \"reject\"; reject \"x\"; keep;")
        .unwrap()
        .run(&MessageContext {
            message: MSG.as_bytes(),
            envelope_from: "",
            envelope_to: "",
            delimiters: "+",
            mailboxes: &[],
            library: &Library::default(),
            now: WallClock::utc(1_000_000_000),
        })
        .is_err());
}

#[test]
fn errors_have_positions() {
    let errs = Script::compile("if true {\n  fileinto \"x\";\n}").unwrap_err();
    assert_eq!(errs[0].pos.line, 2);
    assert!(errs[0].message.contains("require"));
    let errs = Script::compile("keep;\nrequire \"fileinto\";").unwrap_err();
    assert!(errs[0].message.contains("before"));
    let errs = Script::compile("require \"vnd.example.unknown\";").unwrap_err();
    assert!(errs[0].message.contains("unsupported"));
    let errs = Script::compile("if header :is \"a\" \"b\" { keep;").unwrap_err();
    assert!(errs[0].message.contains("}"));
    let errs = Script::compile("frobnicate;").unwrap_err();
    assert!(errs[0].to_string().starts_with("1:1: unknown command"));
    assert!(Script::compile("/* unterminated").is_err());
    assert!(Script::compile("keep").is_err());
    assert!(Script::compile(&"if true {".repeat(100)).is_err());
}

/// RFC 5233 §4's example, on a message to `ken+sieve@example.org` from
/// `coyote+acme@desert.example.org`.
#[test]
fn subaddress_user_and_detail() {
    let msg = "From: coyote+acme@desert.example.org\r\nTo: ken+sieve@example.org\r\n\r\nhi\r\n";
    let run_to = |script: &str, to: &str| {
        Script::compile(script)
            .unwrap()
            .run(&MessageContext {
                message: msg.as_bytes(),
                envelope_from: "coyote+acme@desert.example.org",
                envelope_to: to,
                delimiters: "+",
                mailboxes: &[],
                library: &Library::default(),
                now: WallClock::utc(1_000_000_000),
            })
            .unwrap()
    };
    let script = "require [\"envelope\", \"subaddress\", \"fileinto\"];
if envelope :user \"to\" \"ken\" {
  if envelope :detail \"to\" \"mta-filters\" { fileinto \"inbox.ietf-mta-filters\"; }
  elsif envelope :detail \"to\" \"sieve\" { fileinto \"inbox.ietf-sieve\"; }
}
if address :detail :is \"from\" \"acme\" { fileinto \"from-acme\"; }";
    let actions = run_to(script, "ken+sieve@example.org");
    assert!(
        actions.contains(&Action::FileInto {
            mailbox: "inbox.ietf-sieve".into(),
            flags: vec![]
        }),
        "{actions:?}"
    );
    assert!(
        actions.contains(&Action::FileInto {
            mailbox: "from-acme".into(),
            flags: vec![]
        }),
        "{actions:?}"
    );
    // Without a detail, :detail matches nothing, not even "*".
    let any = "require [\"envelope\", \"subaddress\", \"fileinto\"];
if envelope :detail :matches \"to\" \"*\" { fileinto \"had-detail\"; }";
    assert!(!run_to(any, "ken@example.org").contains(&Action::FileInto {
        mailbox: "had-detail".into(),
        flags: vec![]
    }));
    assert!(run_to(any, "ken+@example.org").contains(&Action::FileInto {
        mailbox: "had-detail".into(),
        flags: vec![]
    }));
    // :user and :detail need the extension, and one address part at a time.
    assert!(Script::compile("if address :user \"to\" \"ken\" { keep; }").is_err());
    assert!(Script::compile(
        "require \"subaddress\"; if address :user :domain \"to\" \"ken\" { keep; }"
    )
    .is_err());
}

/// RFC 5231 §9's example script over three messages.
#[test]
fn relational_value_and_count() {
    let script = "require [\"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"];
if header :value \"lt\" :comparator \"i;ascii-numeric\" [\"x-priority\"] [\"3\"] {
  fileinto \"Priority\";
} elsif address :count \"gt\" :comparator \"i;ascii-numeric\" [\"to\"] [\"5\"] {
  fileinto \"Mailing List\";
} elsif address :value \"gt\" :all :comparator \"i;ascii-casemap\" [\"from\"] [\"M\"] {
  fileinto \"From N-Z\";
} else {
  fileinto \"From A-M\";
}";
    let folder = |msg: &str| {
        let actions = run(script, msg);
        match actions.first() {
            Some(Action::FileInto { mailbox, .. }) => mailbox.clone(),
            other => panic!("{other:?}"),
        }
    };
    let to6 = "To: a@x, b@x, c@x, d@x, e@x, f@x\r\n";
    assert_eq!(
        folder("From: zoe@x\r\nX-Priority: 1\r\n\r\nhi\r\n"),
        "Priority"
    );
    assert_eq!(
        folder(&format!("From: zoe@x\r\n{to6}\r\nhi\r\n")),
        "Mailing List"
    );
    assert_eq!(
        folder("From: zoe@x\r\nTo: a@x\r\nX-Priority: 4\r\n\r\nhi\r\n"),
        "From N-Z"
    );
    assert_eq!(folder("From: bob@x\r\nTo: a@x\r\n\r\nhi\r\n"), "From A-M");
    // A value that is not a number is above every number under i;ascii-numeric.
    assert_eq!(
        folder("From: bob@x\r\nX-Priority: high\r\n\r\nhi\r\n"),
        "From A-M"
    );
    // The extension is required, the operator checked.
    assert!(Script::compile("if header :value \"lt\" \"x\" \"1\" { keep; }").is_err());
    assert!(Script::compile(
        "require \"relational\"; if header :value \"less\" \"x\" \"1\" { keep; }"
    )
    .is_err());
    assert!(Script::compile(
        "require \"relational\"; if header :count \"ge\" :is \"x\" \"1\" { keep; }"
    )
    .is_err());
}

/// RFC 5173: `:text` sees decoded text parts, `:raw` the body as sent, `:content` the
/// parts of the types named.
#[test]
fn body_transforms() {
    let msg = "From: a@x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nQ2Fmw6kgbWVudTogbHVuY2ggYXQgbm9vbg==\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>ticket</p>\r\n--b--\r\n";
    let folder = |test: &str| {
        let script = format!("require [\"body\", \"fileinto\"]; if {test} {{ fileinto \"hit\"; }}");
        run(&script, msg)
            .iter()
            .any(|a| matches!(a, Action::FileInto { mailbox, .. } if mailbox == "hit"))
    };
    assert!(folder("body :contains \"café menu\""));
    assert!(!folder("body :raw :contains \"café\""));
    assert!(folder("body :raw :contains \"Q2Fmw6kg\""));
    assert!(folder(
        "body :content \"text/html\" :contains \"<p>ticket\""
    ));
    assert!(!folder("body :content \"text/html\" :contains \"lunch\""));
    assert!(folder("body :content \"text\" :contains \"ticket\""));
    assert!(Script::compile("if body :contains \"x\" { keep; }").is_err());
    assert!(
        Script::compile("require \"body\"; if body :raw :text :contains \"x\" { keep; }").is_err()
    );
}

/// RFC 5490: `fileinto :create` and `mailboxexists`.
#[test]
fn mailbox_extension() {
    let script = Script::compile(
        "require [\"fileinto\", \"mailbox\"];
if mailboxexists [\"Lists\", \"INBOX\"] { fileinto \"Lists\"; } else { fileinto :create \"New\"; }",
    )
    .unwrap();
    assert!(script.requires("mailbox") && !script.requires("body"));
    let folder = |boxes: &[String]| {
        let actions = script
            .run(&MessageContext {
                message: b"Subject: x\r\n\r\nhi\r\n",
                envelope_from: "",
                envelope_to: "a@b",
                delimiters: "+",
                mailboxes: boxes,
                library: &Library::default(),
                now: WallClock::utc(1_000_000_000),
            })
            .unwrap();
        match actions.first() {
            Some(Action::FileInto { mailbox, .. }) => mailbox.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(folder(&["Lists".to_string()]), "Lists");
    assert_eq!(folder(&[]), "New");
    assert!(Script::compile("require \"fileinto\"; fileinto :create \"x\";").is_err());
    assert!(Script::compile("if mailboxexists \"x\" { keep; }").is_err());
}

/// RFC 5229's own examples (§3, §4, §5) as test vectors.
#[test]
fn variables_rfc5229_examples() {
    let msg = "List-ID: Dovecot Mailing List <dovecot@dovecot.example.net>\r\nSubject: [acme-users] [fwd] version 1.0 is out\r\nTo: coyote@ACME.Example.COM\r\n\r\nhi\r\n";
    let into = |m: &str| Action::FileInto {
        mailbox: m.into(),
        flags: vec![],
    };
    // §3: match variables from a header, the second wildcard.
    let s = "require [\"variables\", \"fileinto\"];\nif header :matches \"List-ID\" \"*<*@*\" {\n  fileinto \"INBOX.lists.${2}\"; stop;\n}";
    assert_eq!(run(s, msg), vec![into("INBOX.lists.dovecot")]);
    let s = "require [\"variables\", \"fileinto\"];\nif header :matches \"Subject\" \"[*] *\" {\n  fileinto \"INBOX.lists.${1}\"; stop;\n}";
    assert_eq!(run(s, msg), vec![into("INBOX.lists.acme-users")]);
    let s = "require [\"variables\", \"fileinto\"];\nif address :matches [\"To\", \"Cc\"] [\"coyote@**.com\", \"wile@**.com\"] {\n  fileinto \"INBOX.business.${2}\"; stop;\n}";
    assert_eq!(run(s, msg), vec![into("INBOX.business.ACME.Example")]);
    // §4: set, references case-insensitive, text: strings expanded.
    let s = "require [\"variables\", \"vacation\"];\nset \"honorific\" \"Mr\";\nset \"first_name\" \"Wile\";\nset \"last_name\" \"Coyote\";\nset \"vacation\" text:\nDear ${HONORIFIC} ${last_name},\nI'm out, please leave a message after the meep.\n.\n;\nvacation :subject \"Gone\" \"${vacation}\";";
    let actions = run(s, msg);
    let Some(Action::Vacation(v)) = actions.first() else {
        panic!("{actions:?}");
    };
    assert_eq!(
        v.reason,
        "Dear Mr Coyote,\r\nI'm out, please leave a message after the meep.\r\n"
    );
    // §4.1: modifiers.
    let s = "require [\"variables\", \"fileinto\"];\nset \"a\" \"juMBlEd lETteRS\";\nset :lower :upperfirst \"b\" \"${a}\";\nset :length \"c\" \"${a}\";\nfileinto \"${b}/${c}\";";
    assert_eq!(run(s, msg), vec![into("Jumbled letters/15")]);
    // §5: the string test, with :count of the non-empty strings.
    let s = "require [\"variables\", \"relational\", \"fileinto\", \"comparator-i;ascii-numeric\"];\nset \"x\" \"\";\nif string :count \"eq\" :comparator \"i;ascii-numeric\" [\"${x}\", \"a\", \"b\"] \"2\" { fileinto \"two\"; }\nif string :is \"${unset}\" \"\" { fileinto \"empty\"; }";
    assert_eq!(run(s, msg), vec![into("two"), into("empty")]);
    // Match variables change only when a :matches succeeds.
    let s = "require [\"variables\", \"fileinto\"];\nif string :matches \"the cat jumps\" \"the * jumps\" {}\nif string :matches \"the dog\" \"the * barks\" {}\nfileinto \"${1}\";";
    assert_eq!(run(s, msg), vec![into("cat")]);
    // Without `require "variables"` nothing is expanded.
    let s = "require \"fileinto\";\nfileinto \"${1}\";";
    assert_eq!(run(s, msg), vec![into("${1}")]);
}

#[test]
fn variables_are_checked_at_compile_time() {
    let err = |s: &str| Script::compile(s).unwrap_err()[0].message.clone();
    assert!(err("set \"a\" \"b\";").contains("require \"variables\""));
    assert!(err("require \"variables\";\nset \"1a\" \"b\";").contains("invalid variable name"));
    assert!(
        err("require \"variables\";\nset :lower :upper \"a\" \"b\";")
            .contains("cannot be combined")
    );
    assert!(err("require \"variables\";\nset :shout \"a\" \"b\";").contains("unknown modifier"));
    assert!(err("if string \"a\" \"b\" { keep; }").contains("require \"variables\""));
}

/// A run with `library` for include.
fn run_with(script: &str, msg: &str, library: &Library) -> Result<Vec<Action>, String> {
    Script::compile(script)
        .unwrap_or_else(|e| panic!("{script}: {e:?}"))
        .run(&MessageContext {
            message: msg.as_bytes(),
            envelope_from: "coyote@desert.example.org",
            envelope_to: "roadrunner@acme.example.com",
            delimiters: "+",
            mailboxes: &[],
            library,
            now: WallClock::utc(1_000_000_000),
        })
}

fn library(scripts: &[(Location, &str, &str)]) -> Library {
    let mut l = Library::default();
    for (loc, name, text) in scripts {
        l.insert(*loc, name, Script::compile(text).unwrap());
    }
    l
}

/// RFC 6609's examples (§6): includes with :personal/:global, :once, :optional, return,
/// and global variables.
#[test]
fn include_rfc6609_examples() {
    let into = |m: &str| Action::FileInto {
        mailbox: m.into(),
        flags: vec![],
    };
    let lib = library(&[
        (Location::Personal, "spam_tests", "require [\"fileinto\"];\nif header :contains \"subject\" \"$$$\" { fileinto \"spam\"; stop; }\nif header :contains \"subject\" \"present\" { fileinto \"presents\"; }"),
        (Location::Global, "always_allow", "require \"include\";\nif address :is \"from\" \"boss@example.com\" { keep; return; }\ndiscard;"),
        (Location::Personal, "setter", "require [\"include\", \"variables\"];\nglobal \"test\";\nset \"test\" \"from setter\";\nset \"local\" \"hidden\";"),
        (Location::Personal, "loop_a", "require \"include\";\ninclude \"loop_b\";"),
        (Location::Personal, "loop_b", "require \"include\";\ninclude \"loop_a\";"),
    ]);
    // Personal include: its fileinto, then the includer goes on.
    let s = "require [\"include\", \"fileinto\"];\ninclude :personal \"spam_tests\";\nfileinto \"after\";";
    assert_eq!(
        run_with(s, MSG, &lib).unwrap(),
        vec![into("presents"), into("after")]
    );
    // Global include: return ends only the included script; discard there ended keep.
    let s = "require \"include\";\ninclude :global \"always_allow\";";
    assert_eq!(run_with(s, MSG, &lib).unwrap(), vec![]);
    // :once runs a script once; :optional skips a missing one; a missing one is an error.
    let s = "require [\"include\", \"fileinto\"];\ninclude :once \"spam_tests\";\ninclude :once \"spam_tests\";\ninclude :optional \"nope\";";
    assert_eq!(run_with(s, MSG, &lib).unwrap(), vec![into("presents")]);
    assert!(run_with("require \"include\";\ninclude \"nope\";", MSG, &lib).is_err());
    // Global variables are shared; the others stay in their script.
    let s = "require [\"include\", \"variables\", \"fileinto\"];\nglobal \"test\";\ninclude \"setter\";\nfileinto \"${test}|${local}|${global.test}\";";
    assert_eq!(
        run_with(s, MSG, &lib).unwrap(),
        vec![into("from setter||from setter")]
    );
    // A loop is a run-time error (the message is kept by the runner).
    assert!(run_with("require \"include\";\ninclude \"loop_a\";", MSG, &lib).is_err());
    // The names a script includes, for the runtime to fetch.
    let s = Script::compile(
        "require \"include\";\nif true { include :global \"g\"; }\ninclude \"p\";\ninclude \"p\";",
    )
    .unwrap();
    assert_eq!(
        s.includes(),
        vec![
            (Location::Global, "g".to_string()),
            (Location::Personal, "p".to_string())
        ]
    );
    let err = |s: &str| Script::compile(s).unwrap_err()[0].message.clone();
    assert!(err("include \"x\";").contains("require \"include\""));
    assert!(err("require [\"include\", \"variables\"];\ninclude \"${x}\";").contains("constant"));
    assert!(err("require \"include\";\ninclude :personal :global \"x\";").contains("not both"));
    assert!(err("require \"include\";\nglobal \"x\";").contains("require \"variables\""));
}

/// RFC 5260's examples (§4.3, §5, §7) and `:index` (§6) as test vectors.
#[test]
fn date_and_index_rfc5260_examples() {
    let into = |m: &str| Action::FileInto {
        mailbox: m.into(),
        flags: vec![],
    };
    let msg = "Received: from b by c; Tue, 1 Apr 1997 09:07:00 -0800\r\nReceived: from a by b; Tue, 1 Apr 1997 09:06:59 -0800\r\nDate: Tue, 1 Apr 1997 09:06:31 -0800 (PST)\r\nX-Priority: low\r\nX-Priority: high\r\n\r\nhi\r\n";
    // §7 example 1 shape: mail within office hours (in the field's own zone).
    let s = "require [\"date\", \"relational\", \"fileinto\"];\nif allof (date :originalzone :value \"ge\" \"date\" \"hour\" \"09\", date :originalzone :value \"lt\" \"date\" \"hour\" \"17\") { fileinto \"office\"; }";
    assert_eq!(run(s, msg), vec![into("office")]);
    // :zone converts; the local zone (here UTC, from `now`) is the default.
    let s = "require [\"date\", \"fileinto\"];\nif date :zone \"+0000\" :is \"date\" \"time\" \"17:06:31\" { fileinto \"utc\"; }\nif date :is \"date\" \"zone\" \"+0000\" { fileinto \"local\"; }\nif date :is \"date\" \"weekday\" \"2\" { fileinto \"tuesday\"; }";
    assert_eq!(
        run(s, msg),
        vec![into("utc"), into("local"), into("tuesday")]
    );
    // currentdate against the time passed in (2001-09-09T01:46:40Z).
    let s = "require [\"date\", \"relational\", \"fileinto\"];\nif currentdate :value \"ge\" \"date\" \"2001-09-01\" { fileinto \"after\"; }\nif currentdate :zone \"-0200\" :is \"date\" \"2001-09-08\" { fileinto \"zoned\"; }";
    assert_eq!(run(s, msg), vec![into("after"), into("zoned")]);
    // §5 example: the date variable, with variables.
    let s = "require [\"date\", \"variables\", \"fileinto\"];\nif currentdate :matches \"year\" \"*\" { set \"year\" \"${1}\"; }\nif currentdate :matches \"month\" \"*\" { set \"month\" \"${1}\"; }\nfileinto \"Archive/${year}-${month}\";";
    assert_eq!(run(s, msg), vec![into("Archive/2001-09")]);
    // §6: :index picks a field, :last counts from the end; Received dates after the ';'.
    let s = "require [\"index\", \"date\", \"fileinto\"];\nif header :index 2 :is \"x-priority\" \"high\" { fileinto \"second\"; }\nif header :index 1 :last :is \"x-priority\" \"high\" { fileinto \"last\"; }\nif header :index 3 :is \"x-priority\" \"high\" { fileinto \"never\"; }\nif date :originalzone :index 1 :last :is \"received\" \"time\" \"09:06:59\" { fileinto \"first-hop\"; }";
    assert_eq!(
        run(s, msg),
        vec![into("second"), into("last"), into("first-hop")]
    );
    let err = |s: &str| Script::compile(s).unwrap_err()[0].message.clone();
    assert!(
        err("require \"date\";\nif date \"date\" \"fortnight\" \"1\" { keep; }")
            .contains("date part")
    );
    assert!(
        err("require \"date\";\nif date :zone \"CET\" \"date\" \"year\" \"1\" { keep; }")
            .contains(":zone")
    );
    assert!(err("if header :index 1 \"a\" \"b\" { keep; }").contains("require \"index\""));
    assert!(
        err("require \"index\";\nif header :last \"a\" \"b\" { keep; }")
            .contains(":last needs :index")
    );
    assert!(
        err("require [\"index\", \"envelope\"];\nif envelope :index 1 \"to\" \"b\" { keep; }")
            .contains("only for")
    );
}

/// RFC 5293's example (§9) and the rules of addheader/deleteheader.
#[test]
fn editheader_rfc5293() {
    let msg = "Received: from a by b; Tue, 1 Apr 1997 09:07:00 -0800\r\nX-Tag: one\r\nSubject: hi\r\nX-Tag: two\r\nX-Tag: three\r\n\r\nbody\r\n";
    let run_e = |s: &str| {
        Script::compile(s)
            .unwrap_or_else(|e| panic!("{s}: {e:?}"))
            .run_edited(&MessageContext {
                message: msg.as_bytes(),
                envelope_from: "coyote@desert.example.org",
                envelope_to: "kim@job.example.com",
                delimiters: "+",
                mailboxes: &[],
                library: &Library::default(),
                now: WallClock::utc(1_000_000_000),
            })
            .unwrap()
    };
    // §9: mark the message so it is not redirected twice; the later test sees the field.
    let s = "require \"editheader\";\nif not header :contains \"X-Sieve-Filtered\" [\"<kim@job.example.com>\", \"<kim@home.example.com>\"] {\n  addheader \"X-Sieve-Filtered\" \"<kim@job.example.com>\";\n  redirect \"kim@home.example.com\";\n}\nif header :contains \"X-Sieve-Filtered\" \"kim\" { keep; }";
    let (actions, edited) = run_e(s);
    assert_eq!(
        actions,
        vec![
            Action::Redirect {
                address: "kim@home.example.com".into()
            },
            Action::Keep { flags: vec![] }
        ]
    );
    let edited = String::from_utf8(edited.unwrap()).unwrap();
    assert!(
        edited.starts_with("X-Sieve-Filtered: <kim@job.example.com>\r\nReceived: "),
        "{edited}"
    );
    assert!(edited.ends_with("X-Tag: three\r\n\r\nbody\r\n"), "{edited}");
    // :last adds at the end; deleteheader by value pattern, and by :index :last.
    let s = "require [\"editheader\"];\naddheader :last \"X-Note\" \"Grüße\";\ndeleteheader :matches \"x-tag\" \"t*\";\ndeleteheader \"subject\";\nif not exists \"subject\" { keep; }";
    let (_, edited) = run_e(s);
    let edited = String::from_utf8(edited.unwrap()).unwrap();
    assert_eq!(
        edited,
        "Received: from a by b; Tue, 1 Apr 1997 09:07:00 -0800\r\nX-Tag: one\r\nX-Note: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\nbody\r\n"
    );
    let s = "require \"editheader\";\ndeleteheader :index 1 :last \"X-Tag\";\ndeleteheader \"received\";\naddheader \"Auto-Submitted\" \"auto-replied\";";
    let (_, edited) = run_e(s);
    let edited = String::from_utf8(edited.unwrap()).unwrap();
    assert!(
        edited.starts_with("Received: ")
            && !edited.contains("three")
            && edited.contains("X-Tag: two"),
        "{edited}"
    );
    assert!(!edited.contains("Auto-Submitted"), "{edited}");
    // Nothing changed: no edited message.
    assert_eq!(
        run_e("require \"editheader\";\ndeleteheader \"x-none\";").1,
        None
    );
    let err = |s: &str| Script::compile(s).unwrap_err()[0].message.clone();
    assert!(err("addheader \"a\" \"b\";").contains("require \"editheader\""));
    assert!(err("require \"editheader\";\naddheader \"a:b\" \"c\";")
        .contains("invalid header field name"));
    assert!(
        err("require \"editheader\";\ndeleteheader :last \"a\";").contains(":last needs :index")
    );
}
