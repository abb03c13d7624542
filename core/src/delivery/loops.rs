//! Mail loop detection at local delivery (RFC 5321 §6.3): a message that already went
//! through this mailbox (its `Delivered-To:` names the recipient) or that has too many
//! `Received:` fields is bounced with 5.4.6 instead of going round again.

use crate::imf::header::split_header_to_blank_line;

/// More `Received:` fields than this is a loop (RFC 5321 §6.3 suggests at least 100).
pub const MAX_RECEIVED: usize = 100;

/// Why a message is looping, if it is: its header holds `Delivered-To:` for one of
/// `addresses` (compared without case), or more than [`MAX_RECEIVED`] Received fields.
pub fn loop_reason(message: &[u8], addresses: &[&str]) -> Option<String> {
    let (fields, _) = split_header_to_blank_line(message);
    let received = fields.iter().filter(|f| f.is("Received")).count();
    if received > MAX_RECEIVED {
        return Some(format!("too many hops ({received} Received header fields)"));
    }
    fields
        .iter()
        .filter(|f| f.is("Delivered-To"))
        .map(|f| f.value().trim().to_string())
        .find(|v| addresses.iter().any(|a| a.eq_ignore_ascii_case(v)))
        .map(|v| format!("mail forwarding loop for {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_to_and_hop_count() {
        let m = b"Received: x\r\nDelivered-To: Alice@a.test\r\nSubject: s\r\n\r\nDelivered-To: bob@a.test\r\n";
        assert!(loop_reason(m, &["alice@a.test"])
            .unwrap()
            .contains("loop for"));
        assert_eq!(
            loop_reason(m, &["bob@a.test"]),
            None,
            "the body does not count"
        );
        let many = "Received: x\r\n".repeat(101) + "\r\nbody";
        assert!(loop_reason(many.as_bytes(), &[])
            .unwrap()
            .contains("too many hops"));
        let ok = "Received: x\r\n".repeat(100) + "\r\nbody";
        assert_eq!(loop_reason(ok.as_bytes(), &[]), None);
    }
}
