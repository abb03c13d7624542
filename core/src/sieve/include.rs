//! Sieve `include` (RFC 6609): `include [:personal|:global] [:once] [:optional] "name"`
//! runs another script at that point, `return` ends the script it is in, and `global`
//! (with `${global.name}`) shares variables between scripts. The core reads no storage:
//! the runtime asks a compiled script which scripts it names ([`Script::includes`]),
//! fetches and compiles them into a [`Library`], and passes that to the run.

use std::collections::HashMap;

use super::parse::{Argument, Command};
use super::{Flow, Script, State};

/// Where an included script is kept (RFC 6609 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// The user's own scripts (`:personal`, the default): their ManageSieve scripts.
    Personal,
    /// The site's scripts (`:global`).
    Global,
}

/// Most scripts one run may include, in all.
pub const MAX_INCLUDES: usize = 32;

/// Deepest nesting of includes (as Pigeonhole's default).
pub const MAX_NESTING: usize = 10;

/// The compiled scripts a run may include, by location and name.
#[derive(Debug, Default)]
pub struct Library {
    scripts: HashMap<(Location, String), Script>,
}

impl Library {
    /// Adds a compiled script.
    pub fn insert(&mut self, location: Location, name: &str, script: Script) {
        self.scripts.insert((location, name.to_string()), script);
    }

    /// The script of this location and name, if the runtime found it.
    pub fn get(&self, location: Location, name: &str) -> Option<&Script> {
        self.scripts.get(&(location, name.to_string()))
    }

    /// Whether the library holds this script.
    pub fn contains(&self, location: Location, name: &str) -> bool {
        self.get(location, name).is_some()
    }
}

/// An `include` command's arguments.
pub(super) struct Include {
    pub(super) location: Location,
    pub(super) name: String,
    pub(super) once: bool,
    pub(super) optional: bool,
}

impl Include {
    /// Reads an include command (already checked by the validator).
    pub(super) fn of(c: &Command) -> Option<Include> {
        let mut include = Include {
            location: Location::Personal,
            name: String::new(),
            once: false,
            optional: false,
        };
        for a in &c.args {
            match a {
                Argument::Tag(t) if t == "global" => include.location = Location::Global,
                Argument::Tag(t) if t == "once" => include.once = true,
                Argument::Tag(t) if t == "optional" => include.optional = true,
                Argument::Strings(s) => include.name = s.first()?.clone(),
                _ => {}
            }
        }
        Some(include)
    }
}

impl Script {
    /// The scripts this one names in `include` commands, in order, each once: what the
    /// runtime fetches into the [`Library`] (and, for each of those, theirs).
    pub fn includes(&self) -> Vec<(Location, String)> {
        fn walk(cmds: &[Command], out: &mut Vec<(Location, String)>) {
            for c in cmds {
                if c.name == "include" {
                    if let Some(i) = Include::of(c) {
                        if !out.contains(&(i.location, i.name.clone())) {
                            out.push((i.location, i.name));
                        }
                    }
                }
                walk(&c.block, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.commands, &mut out);
        out
    }
}

impl State<'_> {
    /// Runs an included script (RFC 6609 §3.2): with its own variables but the global
    /// ones, its own `require`s; `return` ends it, `stop` ends everything. A script already
    /// being run (a loop), one missing without `:optional`, or too many includes are
    /// run-time errors.
    pub(super) fn include(&mut self, c: &Command) -> Result<Flow, String> {
        let Some(inc) = Include::of(c) else {
            return Err("include without a script name".into());
        };
        let key = (inc.location, inc.name.clone());
        if inc.once && self.included.contains(&key) {
            return Ok(Flow::Go);
        }
        let Some(script) = self.ctx.library.get(inc.location, &inc.name) else {
            if inc.optional {
                return Ok(Flow::Go);
            }
            return Err(format!("included script {:?} not found", inc.name));
        };
        if self.running.contains(&key) {
            return Err(format!("include loop through {:?}", inc.name));
        }
        if self.running.len() >= MAX_NESTING || self.included.len() >= MAX_INCLUDES {
            return Err("too many nested includes".into());
        }
        self.included.push(key.clone());
        self.running.push(key);
        let saved_scope = self.vars.enter_script();
        let saved_expanding = std::mem::replace(&mut self.expanding, script.requires("variables"));
        let flow = self.block(&script.commands);
        self.expanding = saved_expanding;
        self.vars.leave_script(saved_scope);
        self.running.pop();
        match flow? {
            Flow::Stop => Ok(Flow::Stop),
            Flow::Go | Flow::Return => Ok(Flow::Go),
        }
    }
}
