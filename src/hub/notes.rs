//! `--explain`'s wire view, on the hub's side: what a watched client's
//! decoder noted about the frames the hub wrote goes to the view watching
//! it, queued like any frame, so that the view is bounded like any client
//! (see `explain`). The hub cannot post to itself, so it queues them here.

use super::ClientId;
use super::thread::HubThread;
use crate::handler::Message;

impl HubThread {
    /// Sends the notes client `id`'s decoder has made, if it has a view.
    pub(super) fn pass_notes(&mut self, id: ClientId) {
        let notes = self
            .clients
            .get_mut(&id)
            .and_then(|c| c.explain.as_mut())
            .and_then(|d| d.take_notes());
        self.send_notes(notes);
    }

    /// Queues `notes` for their view and writes them at once: they are
    /// made while the hub writes, after this round's dirty clients were
    /// taken.
    pub(super) fn send_notes(&mut self, notes: Option<(ClientId, Vec<String>)>) {
        let Some((view, notes)) = notes else {
            return;
        };
        for note in notes {
            // A note is small: always taken (see `budget::SMALL`); one that
            // were not would only be missing from the view.
            if let Ok(frame) = self.budget.frame(Message::from(note).encode()) {
                self.queue(view, frame, false);
            }
        }
        self.flush(view);
    }
}
