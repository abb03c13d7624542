//! The database schema, versioned: [`MIGRATIONS`] in order, applied by whichever command
//! first opens the database. Two nodes starting at once is safe: the upgrade runs under a
//! PostgreSQL advisory lock, and each step in a transaction with the version it brings.

use super::pool::{PgError, Pool};

/// The advisory lock key under which the schema is upgraded ("postrdr" in ASCII).
const SCHEMA_LOCK: i64 = 0x0070_6f73_7472_6472;

/// Each schema version's statements; version n is `MIGRATIONS[n - 1]`. Never edit a
/// step once released: add the next one.
pub const MIGRATIONS: &[&str] = &[
    // 1: accounts, aliases, users' files.
    "CREATE TABLE accounts (
        name text PRIMARY KEY,
        password_hash text NOT NULL,
        quota bigint
    );
    CREATE TABLE aliases (
        name text PRIMARY KEY,
        targets text[] NOT NULL
    );
    CREATE TABLE user_files (
        account text NOT NULL,
        file text NOT NULL,
        content bytea NOT NULL,
        PRIMARY KEY (account, file)
    );",
    // 2: mailboxes, messages and their bytes (chunked blobs), subscriptions, POP3 locks.
    "CREATE SEQUENCE uid_validity_seq;
    SELECT setval('uid_validity_seq', extract(epoch FROM now())::bigint);
    CREATE TABLE mailboxes (
        id bigserial PRIMARY KEY,
        account text NOT NULL,
        name text NOT NULL,
        selectable boolean NOT NULL DEFAULT true,
        uid_validity bigint NOT NULL DEFAULT nextval('uid_validity_seq'),
        uid_next bigint NOT NULL DEFAULT 1,
        recent_from bigint NOT NULL DEFAULT 1,
        modseq bigint NOT NULL DEFAULT 1,
        UNIQUE (account, name)
    );
    CREATE TABLE subscriptions (
        account text NOT NULL,
        name text NOT NULL,
        PRIMARY KEY (account, name)
    );
    CREATE TABLE blobs (
        id bigserial PRIMARY KEY,
        size bigint NOT NULL,
        header_size bigint NOT NULL
    );
    CREATE TABLE blob_chunks (
        blob bigint NOT NULL REFERENCES blobs ON DELETE CASCADE,
        seq integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (blob, seq)
    );
    CREATE TABLE messages (
        mailbox bigint NOT NULL REFERENCES mailboxes ON DELETE CASCADE,
        uid bigint NOT NULL,
        blob bigint NOT NULL REFERENCES blobs,
        size bigint NOT NULL,
        internal_date bigint NOT NULL,
        date_offset integer NOT NULL,
        flags text[] NOT NULL DEFAULT '{}',
        modseq bigint NOT NULL,
        queue_id text,
        PRIMARY KEY (mailbox, uid)
    );
    CREATE INDEX messages_blob ON messages (blob);
    CREATE INDEX messages_queue_id ON messages (mailbox, queue_id) WHERE queue_id IS NOT NULL;
    CREATE TABLE pop3_locks (
        account text PRIMARY KEY,
        holder text NOT NULL,
        expires timestamptz NOT NULL
    );",
    // 3: the queue, shared by every node (entries claimed with a lease), notes and
    // flush requests from the `queue` commands.
    "CREATE TABLE queue (
        id text PRIMARY KEY,
        envelope text NOT NULL,
        blob bigint NOT NULL REFERENCES blobs,
        lease_owner text,
        lease_until timestamptz
    );
    CREATE TABLE queue_notes (
        id bigserial PRIMARY KEY,
        text text NOT NULL
    );
    CREATE TABLE queue_flush (
        requested boolean PRIMARY KEY
    );",
    // 4: a POP3 lock names the node and the process (incarnation) that holds it, so a
    // node restarted after a crash takes back its own dead sessions' locks at once.
    "ALTER TABLE pop3_locks
        ADD COLUMN node text NOT NULL DEFAULT '',
        ADD COLUMN incarnation text NOT NULL DEFAULT '';",
    // 5: what changed in a folder since a MODSEQ, found without reading the folder (a
    // node brings its cached view up to date with these rows).
    "CREATE INDEX messages_modseq ON messages (mailbox, modseq);",
    // 6: storage limits per account (`postrider user quota`).
    "CREATE TABLE quotas (
        account text PRIMARY KEY,
        bytes bigint NOT NULL
    );",
    // 7: the UIDs expunged from each folder with the MODSEQ of their removal (QRESYNC's
    // VANISHED).
    "CREATE TABLE vanished (
        mailbox bigint NOT NULL REFERENCES mailboxes ON DELETE CASCADE,
        uid bigint NOT NULL,
        modseq bigint NOT NULL,
        PRIMARY KEY (mailbox, uid)
    );
    CREATE INDEX vanished_modseq ON vanished (mailbox, modseq);",
    // 8: special-use attributes given by CREATE (RFC 6154), space-separated.
    "ALTER TABLE mailboxes ADD COLUMN special_use text NOT NULL DEFAULT '';",
    // 9: named Sieve scripts (ManageSieve), at most one active per account.
    "CREATE TABLE sieve_scripts (
        account text NOT NULL,
        name text NOT NULL,
        content bytea NOT NULL,
        active boolean NOT NULL DEFAULT false,
        PRIMARY KEY (account, name)
    );
    CREATE UNIQUE INDEX sieve_scripts_one_active ON sieve_scripts (account) WHERE active;",
];

/// Brings the schema to the newest version this binary knows; refuses a database whose
/// schema is newer. Returns the version.
pub fn migrate(pool: &Pool) -> Result<usize, PgError> {
    let c = pool.get()?;
    c.execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK])?;
    let result = (|| {
        c.batch("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")?;
        let current = match c.query_opt("SELECT version FROM schema_version", &[])? {
            Some(row) => row.get::<_, i32>(0) as usize,
            None => {
                c.execute("INSERT INTO schema_version VALUES (0)", &[])?;
                0
            }
        };
        if current > MIGRATIONS.len() {
            return Err(PgError::Schema(format!(
                "the database schema is version {current}; this postrider knows up to {}: \
                 upgrade postrider",
                MIGRATIONS.len()
            )));
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(current) {
            let version = (i + 1) as i32;
            c.batch("BEGIN")?;
            let applied = c
                .batch(step)
                .and_then(|_| c.execute("UPDATE schema_version SET version = $1", &[&version]));
            match applied {
                Ok(_) => c.batch("COMMIT")?,
                Err(e) => {
                    let _ = c.batch("ROLLBACK");
                    return Err(e);
                }
            }
            tracing::info!("database schema upgraded to version {version}");
        }
        Ok(MIGRATIONS.len())
    })();
    let _ = c.execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK]);
    result
}
