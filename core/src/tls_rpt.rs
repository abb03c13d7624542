//! SMTP TLS Reporting (RFC 8460) as pure work: the result of each delivery session to a
//! domain with an MTA-STS policy (as the agents record it, one line per session), the
//! daily aggregate report (JSON, §4), its file name, and the report message (§5.3).

use serde::Serialize;

use crate::imf::datetime::WallClock;

/// Why a session failed (RFC 8460 §4.3), those a sender without DANE can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResultType {
    /// The MX did not offer STARTTLS.
    StarttlsNotSupported,
    /// The certificate does not name the MX.
    CertificateHostMismatch,
    /// The certificate has expired.
    CertificateExpired,
    /// The certificate does not chain to a trusted root.
    CertificateNotTrusted,
    /// Another failure (a TLS handshake error, an MX the policy does not name).
    ValidationFailure,
    /// The policy could not be fetched.
    StsPolicyFetchError,
    /// The fetched policy did not parse.
    StsPolicyInvalid,
}

const NAMES: [(ResultType, &str); 7] = [
    (ResultType::StarttlsNotSupported, "starttls-not-supported"),
    (
        ResultType::CertificateHostMismatch,
        "certificate-host-mismatch",
    ),
    (ResultType::CertificateExpired, "certificate-expired"),
    (ResultType::CertificateNotTrusted, "certificate-not-trusted"),
    (ResultType::ValidationFailure, "validation-failure"),
    (ResultType::StsPolicyFetchError, "sts-policy-fetch-error"),
    (ResultType::StsPolicyInvalid, "sts-policy-invalid"),
];

impl ResultType {
    /// Its name in a report.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("validation-failure", |(_, n)| n)
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<ResultType> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
    }

    /// The type of a failed session from the text the delivery gave for it.
    pub fn of_failure(text: &str) -> ResultType {
        let t = text.to_ascii_lowercase();
        if t.contains("does not offer starttls") {
            ResultType::StarttlsNotSupported
        } else if t.contains("not valid for name") || t.contains("notvalidforname") {
            ResultType::CertificateHostMismatch
        } else if t.contains("expired") {
            ResultType::CertificateExpired
        } else if t.contains("unknownissuer") || t.contains("unknown issuer") {
            ResultType::CertificateNotTrusted
        } else {
            ResultType::ValidationFailure
        }
    }
}

/// One session's result as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionResult {
    /// TLS as the policy asks.
    Success,
    /// A failure, with the MX (or the policy host) and its address when known.
    Failure {
        /// What failed.
        result_type: ResultType,
        /// The MX host name (empty for policy fetch failures).
        mx: String,
        /// The MX address, if a connection was made.
        ip: String,
    },
}

impl SessionResult {
    /// The record line (`s`, or `f TAB TYPE TAB MX TAB IP`), no line end.
    pub fn to_line(&self) -> String {
        match self {
            SessionResult::Success => "s".into(),
            SessionResult::Failure {
                result_type,
                mx,
                ip,
            } => format!("f\t{}\t{}\t{}", result_type.as_str(), clean(mx), clean(ip)),
        }
    }

    /// Reads a record line.
    pub fn parse(line: &str) -> Option<SessionResult> {
        let mut f = line.split('\t');
        match f.next()? {
            "s" => Some(SessionResult::Success),
            "f" => Some(SessionResult::Failure {
                result_type: ResultType::parse(f.next()?)?,
                mx: f.next().unwrap_or("").to_string(),
                ip: f.next().unwrap_or("").to_string(),
            }),
            _ => None,
        }
    }
}

/// A field value kept on one line of a record.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// What a report covers: one policy domain, one UTC day.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The sending organisation (this host's name).
    pub organization: &'a str,
    /// A contact address.
    pub contact: &'a str,
    /// A unique report id.
    pub report_id: &'a str,
    /// Start of the day (Unix seconds, UTC midnight).
    pub start: i64,
    /// The policy domain.
    pub domain: &'a str,
    /// The policy text as fetched (empty when none could be).
    pub policy: &'a str,
    /// The sessions.
    pub sessions: &'a [SessionResult],
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(rename = "organization-name")]
    organization: &'a str,
    #[serde(rename = "date-range")]
    date_range: DateRange,
    #[serde(rename = "contact-info")]
    contact: &'a str,
    #[serde(rename = "report-id")]
    report_id: &'a str,
    policies: Vec<PolicyReport<'a>>,
}

#[derive(Serialize)]
struct DateRange {
    #[serde(rename = "start-datetime")]
    start: String,
    #[serde(rename = "end-datetime")]
    end: String,
}

#[derive(Serialize)]
struct PolicyReport<'a> {
    policy: PolicyDesc<'a>,
    summary: Summary,
    #[serde(rename = "failure-details", skip_serializing_if = "Vec::is_empty")]
    failure_details: Vec<FailureDetail>,
}

#[derive(Serialize)]
struct PolicyDesc<'a> {
    #[serde(rename = "policy-type")]
    policy_type: &'static str,
    #[serde(rename = "policy-string", skip_serializing_if = "Vec::is_empty")]
    policy_string: Vec<&'a str>,
    #[serde(rename = "policy-domain")]
    policy_domain: &'a str,
    #[serde(rename = "mx-host", skip_serializing_if = "Vec::is_empty")]
    mx_host: Vec<&'a str>,
}

#[derive(Serialize)]
struct Summary {
    #[serde(rename = "total-successful-session-count")]
    successes: u64,
    #[serde(rename = "total-failure-session-count")]
    failures: u64,
}

#[derive(Serialize)]
struct FailureDetail {
    #[serde(rename = "result-type")]
    result_type: &'static str,
    #[serde(
        rename = "receiving-mx-hostname",
        skip_serializing_if = "String::is_empty"
    )]
    mx: String,
    #[serde(rename = "receiving-ip", skip_serializing_if = "String::is_empty")]
    ip: String,
    #[serde(rename = "failed-session-count")]
    count: u64,
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(secs: i64) -> String {
    let c = WallClock::utc(secs).civil();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The aggregate report (RFC 8460 §4.4) as JSON.
pub fn report_json(r: &ReportInput<'_>) -> String {
    let lines: Vec<&str> = (r.policy.lines())
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect();
    let mx: Vec<&str> = (lines.iter())
        .filter_map(|l| l.strip_prefix("mx:").map(str::trim))
        .collect();
    let mut details: Vec<FailureDetail> = Vec::new();
    let mut successes = 0;
    for s in r.sessions {
        match s {
            SessionResult::Success => successes += 1,
            SessionResult::Failure {
                result_type,
                mx,
                ip,
            } => {
                let same = |d: &&mut FailureDetail| {
                    d.result_type == result_type.as_str() && d.mx == *mx && d.ip == *ip
                };
                match details.iter_mut().find(same) {
                    Some(d) => d.count += 1,
                    None => details.push(FailureDetail {
                        result_type: result_type.as_str(),
                        mx: mx.clone(),
                        ip: ip.clone(),
                        count: 1,
                    }),
                }
            }
        }
    }
    let report = Report {
        organization: r.organization,
        date_range: DateRange {
            start: rfc3339(r.start),
            end: rfc3339(r.start + 86_399),
        },
        contact: r.contact,
        report_id: r.report_id,
        policies: vec![PolicyReport {
            policy: PolicyDesc {
                policy_type: if lines.is_empty() {
                    "no-policy-found"
                } else {
                    "sts"
                },
                policy_string: lines,
                policy_domain: r.domain,
                mx_host: mx,
            },
            summary: Summary {
                successes,
                failures: r.sessions.len() as u64 - successes,
            },
            failure_details: details,
        }],
    };
    serde_json::to_string_pretty(&report).unwrap_or_default()
}

/// The report file name (RFC 8460 §5.3): `submitter!domain!begin!end!id.json.gz`.
pub fn report_file_name(submitter: &str, r: &ReportInput<'_>) -> String {
    format!(
        "{submitter}!{}!{}!{}!{}.json.gz",
        r.domain,
        r.start,
        r.start + 86_399,
        r.report_id
    )
}

/// The report message (RFC 8460 §5.3): `multipart/report; report-type="tlsrpt"`, a short
/// text part and the gzipped JSON as `application/tlsrpt+gzip`, CRLF line ends.
pub fn report_message(
    from: &str,
    to: &str,
    submitter: &str,
    r: &ReportInput<'_>,
    gzipped: &[u8],
    date: WallClock,
) -> Vec<u8> {
    use base64::Engine;
    let boundary = format!("tlsrpt-{}", r.report_id);
    let name = report_file_name(submitter, r);
    let b64 = base64::engine::general_purpose::STANDARD.encode(gzipped);
    let mut body = String::new();
    for chunk in b64.as_bytes().chunks(76) {
        body.push_str(&String::from_utf8_lossy(chunk));
        body.push_str("\r\n");
    }
    format!(
        "From: {from}\r\nTo: {to}\r\nDate: {date}\r\nMessage-ID: <{id}@{submitter}>\r\n\
         Subject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{id}>\r\n\
         TLS-Report-Domain: {domain}\r\nTLS-Report-Submitter: {submitter}\r\n\
         Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This is an aggregate TLS report from {submitter} for {domain}.\r\n\r\n\
         --{boundary}\r\nContent-Type: application/tlsrpt+gzip\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}\r\n--{boundary}--\r\n",
        date = date.rfc5322(),
        id = r.report_id,
        domain = r.domain,
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for s in [
            SessionResult::Success,
            SessionResult::Failure {
                result_type: ResultType::CertificateHostMismatch,
                mx: "mx.b.test".into(),
                ip: "127.0.0.2".into(),
            },
        ] {
            assert_eq!(SessionResult::parse(&s.to_line()), Some(s));
        }
        assert_eq!(
            ResultType::of_failure("TLS is required, but the server does not offer STARTTLS"),
            ResultType::StarttlsNotSupported
        );
        assert_eq!(
            ResultType::of_failure("TLS handshake failed: invalid peer certificate: certificate not valid for name \"mx.x.test\""),
            ResultType::CertificateHostMismatch
        );
    }

    #[test]
    fn a_report_has_the_rfc_shape() {
        let fail = SessionResult::Failure {
            result_type: ResultType::StarttlsNotSupported,
            mx: "mx.e.test".into(),
            ip: "127.0.0.5".into(),
        };
        let sessions = [SessionResult::Success, fail.clone(), fail];
        let input = ReportInput {
            organization: "mx.a.test",
            contact: "postmaster@a.test",
            report_id: "r1",
            start: 1_796_515_200,
            domain: "e.test",
            policy: "version: STSv1\r\nmode: enforce\r\nmx: *.e.test\r\nmax_age: 86400\r\n",
            sessions: &sessions,
        };
        let json: serde_json::Value = serde_json::from_str(&report_json(&input)).unwrap();
        assert_eq!(json["date-range"]["start-datetime"], "2026-12-06T00:00:00Z");
        assert_eq!(json["date-range"]["end-datetime"], "2026-12-06T23:59:59Z");
        let p = &json["policies"][0];
        assert_eq!(p["policy"]["policy-type"], "sts");
        assert_eq!(p["policy"]["mx-host"][0], "*.e.test");
        assert_eq!(p["summary"]["total-successful-session-count"], 1);
        assert_eq!(p["summary"]["total-failure-session-count"], 2);
        assert_eq!(
            p["failure-details"][0]["result-type"],
            "starttls-not-supported"
        );
        assert_eq!(p["failure-details"][0]["failed-session-count"], 2);
        assert_eq!(
            report_file_name("mx.a.test", &input),
            "mx.a.test!e.test!1796515200!1796601599!r1.json.gz"
        );
    }
}
