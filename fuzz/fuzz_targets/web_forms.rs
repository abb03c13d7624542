//! What the webmail decodes from a browser or a user's files, from arbitrary bytes: form
//! bodies and queries, `multipart/form-data` (the first line is the Content-Type), a
//! `.vacation.msg`, a `.forward` switched on and off: no panic, and the vacation switch
//! always ends with the pipe gone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postrider_core::web::compose::FormData;
use postrider_core::web::form::Form;
use postrider_core::web::search::{search_key, SearchField};
use postrider_core::web::vacation::{
    forward_with_vacation, forward_without_vacation, read_template, vacation_enabled,
};

fuzz_target!(|data: &[u8]| {
    let form = Form::parse(data);
    let _ = form.get("csrf");
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (String::new(), data),
    };
    if let Some(fd) = FormData::parse(&content_type, body) {
        let _ = fd.get("to");
    }
    let _ = read_template(data);
    let text = String::from_utf8_lossy(data);
    let _ = search_key(SearchField::Any, &text);
    let on = forward_with_vacation(&text, "alice", "/usr/sbin/postrider vacation alice");
    assert!(vacation_enabled(&on));
    if let Some(off) = forward_without_vacation(&on, "alice") {
        assert!(!vacation_enabled(&off));
    }
});
