//! Logins of the protocol sessions (SMTP AUTH, POP3, IMAP): the account check, the log
//! line, and the penalty for recent failures shared by every connection.

use postrider_core::machine::AuthOutcome;
use postrider_store::accounts::{AccountStore, Login};

/// Checks SASL or USER/PASS credentials for a protocol session and logs the result
/// (never the password). Returns the answer the protocol machines take and how long to
/// hold it back: the penalty for recent failures from this client or against this
/// account, shared by every connection and protocol ([`postrider_core::penalty`]).
pub fn sasl_login(
    ctx: &crate::context::Context,
    ip: std::net::IpAddr,
    protocol: &str,
    credentials: &postrider_core::sasl::Credentials,
) -> (postrider_core::machine::AuthOutcome, std::time::Duration) {
    let mechanism = credentials.mechanism.name();
    let name = &credentials.username;
    let admission = ctx.auth_penalty(|t| t.admit(std::time::Instant::now(), ip, name));
    if !admission.hold.is_zero() {
        tracing::info!(
            "[{ip}]: auth penalty: answer held {:.1} s ({} recent failures from this client, {} against {name:?})",
            admission.hold.as_secs_f32(),
            admission.client_failures,
            admission.account_failures
        );
    }
    if !admission.check {
        tracing::warn!(
            "[{ip}]: {mechanism} authentication refused unchecked for {name:?}: too many attempts waiting"
        );
        return (AuthOutcome::Failure, admission.hold);
    }
    let outcome = check_login(&*ctx.accounts, ip, protocol, credentials);
    let success = match &outcome {
        AuthOutcome::Success(_) => Some(true),
        AuthOutcome::Failure => Some(false),
        AuthOutcome::TemporaryFailure => None,
    };
    if let Some(success) = success {
        ctx.auth_penalty(|t| t.record(std::time::Instant::now(), ip, name, success));
        ctx.metrics.login(protocol, success);
    }
    (outcome, admission.hold)
}

/// Checks credentials against the accounts and logs the result.
fn check_login(
    accounts: &dyn AccountStore,
    ip: std::net::IpAddr,
    protocol: &str,
    credentials: &postrider_core::sasl::Credentials,
) -> postrider_core::machine::AuthOutcome {
    let mechanism = credentials.mechanism.name();
    match accounts.login(&credentials.username, &credentials.password) {
        Login::Valid(name) => match &credentials.authzid {
            Some(z) if !z.eq_ignore_ascii_case(&name) => {
                tracing::warn!(
                    "[{ip}]: {mechanism} authentication refused: {name} may not act as {z:?}"
                );
                AuthOutcome::Failure
            }
            _ => {
                tracing::info!(
                    "[{ip}]: {protocol} login: sasl_method={mechanism}, sasl_username={name}"
                );
                AuthOutcome::Success(name)
            }
        },
        Login::Invalid => {
            tracing::warn!(
                "[{ip}]: {protocol} {mechanism} authentication failed for {:?}",
                credentials.username
            );
            AuthOutcome::Failure
        }
        Login::Unavailable(why) => {
            tracing::error!("[{ip}]: authentication unavailable: {why}");
            AuthOutcome::TemporaryFailure
        }
    }
}
