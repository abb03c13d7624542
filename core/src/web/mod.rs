//! What the webmail needs that involves no I/O: form and query decoding ([`form`]),
//! messages as the pages show them ([`message`]: list summaries, the reading view with
//! HTML sanitised, attachments), compose ([`compose`]), the search box ([`search`]) and
//! the vacation switch ([`vacation`]), and the admin pages' SVG plots
//! ([`plot`]).
//! Pages and sessions live with the agents; this module keeps the parsing and the
//! message transformations they rely on pure and tested.

pub mod compose;
pub mod form;
pub mod message;
pub mod plot;
pub mod search;
pub mod vacation;
