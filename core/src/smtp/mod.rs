//! SMTP (RFC 5321) for both sides: value types, parsers, encoders, the DATA receiver,
//! the server state machine and the client state machine.

pub mod client;
pub mod data;
pub mod dsn;
pub mod encode;
pub mod event;
pub mod parse;
pub mod server;
pub mod types;

pub use event::{DataTicket, Envelope, SmtpEvent, SmtpServerConfig, Verdict, VrfyPolicy};
pub use server::SmtpServer;
pub use types::{Command, EnhancedCode, ForwardPath, Mailbox, Parameter, Reply, ReversePath};
