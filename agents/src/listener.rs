//! The listeners a connection can come in on, and what each one speaks.

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Port 25 role: receives mail for local domains; relays only for trusted networks.
    Smtp,
    /// Port 587 role: STARTTLS, then AUTH before MAIL.
    Submission,
    /// Port 465 role: implicit TLS, then AUTH before MAIL.
    Submissions,
    /// POP3 (port 110 role): STLS, then USER/PASS or AUTH.
    Pop3,
    /// POP3S (port 995 role): implicit TLS.
    Pop3s,
    /// IMAP (port 143 role): STARTTLS, then LOGIN or AUTHENTICATE.
    Imap,
    /// IMAPS (port 993 role): implicit TLS.
    Imaps,
    /// Web over plain HTTP (port 80 role): only redirects to HTTPS.
    Http,
    /// Web over HTTPS (port 443 role): webmail, admin pages, metrics.
    Https,
    /// LMTP (RFC 2033) from the MTA in front: trusted networks only, delivery while the
    /// client waits.
    Lmtp,
    /// ManageSieve (RFC 5804, port 4190): STARTTLS, then AUTHENTICATE.
    ManageSieve,
}

impl ListenerKind {
    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Smtp => "smtp",
            ListenerKind::Submission => "submission",
            ListenerKind::Submissions => "submissions",
            ListenerKind::Pop3 => "pop3",
            ListenerKind::Pop3s => "pop3s",
            ListenerKind::Imap => "imap",
            ListenerKind::Imaps => "imaps",
            ListenerKind::Http => "http",
            ListenerKind::Https => "https",
            ListenerKind::Lmtp => "lmtp",
            ListenerKind::ManageSieve => "managesieve",
        }
    }

    /// Whether connections on this listener speak POP3.
    pub fn is_pop3(self) -> bool {
        matches!(self, ListenerKind::Pop3 | ListenerKind::Pop3s)
    }

    /// Whether connections on this listener speak IMAP.
    pub fn is_imap(self) -> bool {
        matches!(self, ListenerKind::Imap | ListenerKind::Imaps)
    }

    /// Whether connections on this listener speak HTTP.
    pub fn is_http(self) -> bool {
        matches!(self, ListenerKind::Http | ListenerKind::Https)
    }

    /// Whether connections start with a TLS handshake (ports 465, 995, 993 and 443).
    pub fn implicit_tls(self) -> bool {
        matches!(
            self,
            ListenerKind::Submissions
                | ListenerKind::Pop3s
                | ListenerKind::Imaps
                | ListenerKind::Https
        )
    }

    /// The protocol spoken, for logs.
    pub fn protocol(self) -> &'static str {
        if self.is_pop3() {
            "pop3"
        } else if self.is_imap() {
            "imap"
        } else if self.is_http() {
            "web"
        } else if self == ListenerKind::Lmtp {
            "lmtp"
        } else if self == ListenerKind::ManageSieve {
            "managesieve"
        } else {
            "smtp"
        }
    }
}
