//! The mail queue as the agents use it, the interface every queue backend implements: a
//! message is received into a [`MessageSpool`] and becomes durable with its envelope at
//! [`MessageSpool::commit`] (only then may a 250 be sent); the queue runner lists, loads,
//! updates and removes queued messages. The files backend is [`crate::queue::Queue`].

use std::fmt::Debug;
use std::io;
use std::time::Duration;

use crate::queue::{unix_now, Envelope, Queue, Recipient, Spool};

/// A message being received into the queue.
pub trait MessageSpool: Send + Debug {
    /// The queue id the message will have.
    fn id(&self) -> &str;

    /// Whether writing `more` bytes now stays in memory (cannot wait on the disk).
    fn buffers(&self, more: usize) -> bool;

    /// Whether dropping the spool has stored bytes to clean up.
    fn has_file(&self) -> bool;

    /// Appends message bytes.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// The first `limit` bytes written so far (to look at the header cheaply).
    fn head(&mut self, limit: usize) -> io::Result<Vec<u8>>;

    /// Everything written so far (for signing before the commit).
    fn contents(&mut self) -> io::Result<Vec<u8>>;

    /// Makes the message durable with its envelope. Only after this returns `Ok` may the
    /// client be told 250; on `Err` nothing is queued.
    fn commit(self: Box<Self>, envelope: &Envelope) -> io::Result<()>;
}

/// The queue of one server (or of several nodes sharing a backend).
pub trait QueueStore: Send + Sync + Debug {
    /// Starts a new message.
    fn create_spool(&self) -> io::Result<Box<dyn MessageSpool>>;

    /// Replaces the envelope of a queued message; `Ok(false)` when the message was
    /// removed meanwhile (nothing written).
    fn update_envelope(&self, envelope: &Envelope) -> io::Result<bool>;

    /// Start-up check after a crash: moves aside messages whose content does not match
    /// their envelope; returns their ids.
    fn verify(&self) -> io::Result<Vec<String>>;

    /// Queue ids, oldest first.
    fn list(&self) -> io::Result<Vec<String>>;

    /// Reads one envelope.
    fn load(&self, id: &str) -> io::Result<Envelope>;

    /// Reads one message.
    fn read_message(&self, id: &str) -> io::Result<Vec<u8>>;

    /// Removes a message, durably.
    fn remove(&self, id: &str) -> io::Result<()>;

    /// Removes a message, leaving durability to the next [`QueueStore::sync_removals`].
    fn remove_unsynced(&self, id: &str) -> io::Result<()>;

    /// Makes the removals since the last call durable.
    fn sync_removals(&self);

    /// Removes what crashed writers left, older than `min_age`; how many.
    fn recover(&self, min_age: Duration) -> io::Result<usize>;

    /// Asks a running queue runner to retry every deferred message now.
    fn request_flush(&self) -> io::Result<()>;

    /// Whether a flush was requested (and clears the request).
    fn take_flush_request(&self) -> bool;

    /// Leaves a line for a running server's log (from a `queue` command).
    fn leave_note(&self, text: &str) -> io::Result<()>;

    /// The notes left since the last call.
    fn take_notes(&self) -> Vec<String>;

    /// Takes message `id` for delivery by this node for `lease` (renewed by claiming
    /// again); `Ok(false)` when another node holds it. A backend with one node always
    /// says yes.
    fn claim(&self, _id: &str, _lease: Duration) -> io::Result<bool> {
        Ok(true)
    }

    /// Claims those of `ids` no other node holds, at once (see [`QueueStore::claim`]);
    /// returns the ones claimed. A backend with one node takes them all.
    fn claim_many(&self, ids: &[String], lease: Duration) -> io::Result<Vec<String>> {
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            if self.claim(id, lease)? {
                claimed.push(id.clone());
            }
        }
        Ok(claimed)
    }

    /// Gives message `id` back after a delivery pass (another node may take it).
    fn release(&self, _id: &str) {}

    /// Queues a message made by this host (a bounce, a forwarded copy, a vacation
    /// reply), durably. Returns its queue id.
    fn submit(
        &self,
        sender: &str,
        recipients: Vec<Recipient>,
        content: &[u8],
    ) -> io::Result<String> {
        let mut spool = self.create_spool()?;
        spool.write(content)?;
        let id = spool.id().to_string();
        let envelope = Envelope::local(&id, sender, recipients, content.len() as u64, unix_now());
        spool.commit(&envelope)?;
        Ok(id)
    }
}

impl MessageSpool for Spool {
    fn id(&self) -> &str {
        Spool::id(self)
    }

    fn buffers(&self, more: usize) -> bool {
        Spool::buffers(self, more)
    }

    fn has_file(&self) -> bool {
        Spool::has_file(self)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        Spool::write(self, bytes)
    }

    fn head(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        Spool::head(self, limit)
    }

    fn contents(&mut self) -> io::Result<Vec<u8>> {
        Spool::contents(self)
    }

    fn commit(self: Box<Self>, envelope: &Envelope) -> io::Result<()> {
        let queue = self.queue().clone();
        queue.commit(*self, envelope)
    }
}

impl QueueStore for Queue {
    fn create_spool(&self) -> io::Result<Box<dyn MessageSpool>> {
        Ok(Box::new(Queue::create_spool(self)?))
    }

    fn update_envelope(&self, envelope: &Envelope) -> io::Result<bool> {
        Queue::update_envelope(self, envelope)
    }

    fn verify(&self) -> io::Result<Vec<String>> {
        Queue::verify(self)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Queue::list(self)
    }

    fn load(&self, id: &str) -> io::Result<Envelope> {
        Queue::load(self, id)
    }

    fn read_message(&self, id: &str) -> io::Result<Vec<u8>> {
        Queue::read_message(self, id)
    }

    fn remove(&self, id: &str) -> io::Result<()> {
        Queue::remove(self, id)
    }

    fn remove_unsynced(&self, id: &str) -> io::Result<()> {
        Queue::remove_unsynced(self, id)
    }

    fn sync_removals(&self) {
        Queue::sync_removals(self)
    }

    fn recover(&self, min_age: Duration) -> io::Result<usize> {
        Queue::recover(self, min_age)
    }

    fn request_flush(&self) -> io::Result<()> {
        Queue::request_flush(self)
    }

    fn take_flush_request(&self) -> bool {
        Queue::take_flush_request(self)
    }

    fn leave_note(&self, text: &str) -> io::Result<()> {
        Queue::leave_note(self, text)
    }

    fn take_notes(&self) -> Vec<String> {
        Queue::take_notes(self)
    }
}
