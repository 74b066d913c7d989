//! Alert states and history that could not be written yet. The engine keeps
//! only state changes, so a failed write must be carried to the next one, or
//! the stored state would fall behind for good; the buffer keeps the newest
//! row per alert and at most `MAX_CHANGES` history entries, so a database
//! that stays down cannot make it grow without bound.

use std::collections::{HashSet, VecDeque};
use weir_store::db::{AlertChange, AlertRow};

/// History entries kept while the database refuses writes; older ones go.
pub const MAX_CHANGES: usize = 10_000;

/// Writes waiting for the database.
#[derive(Debug, Default)]
pub struct Unsaved {
    rows: Vec<AlertRow>,
    changes: VecDeque<AlertChange>,
    /// History entries dropped since the last successful write.
    pub dropped_changes: u64,
}

impl Unsaved {
    /// Everything waiting, older first, followed by `rows` and `changes`;
    /// the buffer is left empty.
    pub fn take_with(
        &mut self,
        rows: Vec<AlertRow>,
        changes: Vec<AlertChange>,
    ) -> (Vec<AlertRow>, Vec<AlertChange>) {
        let mut all_rows = std::mem::take(&mut self.rows);
        all_rows.extend(rows);
        let mut all_changes: Vec<AlertChange> = std::mem::take(&mut self.changes).into();
        all_changes.extend(changes);
        (newest_per_alert(all_rows), all_changes)
    }

    /// Puts back a batch that could not be written.
    pub fn put_back(&mut self, rows: Vec<AlertRow>, changes: Vec<AlertChange>) {
        let (rows, changes) = self.take_with(rows, changes);
        self.rows = rows;
        self.changes = changes.into();
        while self.changes.len() > MAX_CHANGES {
            self.changes.pop_front();
            self.dropped_changes += 1;
        }
    }
}

/// Keeps the last row of each alert, in the order the survivors came.
fn newest_per_alert(rows: Vec<AlertRow>) -> Vec<AlertRow> {
    let mut seen = HashSet::new();
    let mut newest: Vec<AlertRow> = rows
        .into_iter()
        .rev()
        .filter(|r| seen.insert((r.rule.clone(), r.component.clone(), r.partition.clone())))
        .collect();
    newest.reverse();
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(component: &str, state: &str, at: u64) -> AlertRow {
        AlertRow {
            rule: "g/r".into(),
            component: component.into(),
            partition: String::new(),
            state: state.into(),
            value: None,
            evaluated_at: at,
        }
    }

    fn change(at: u64) -> AlertChange {
        AlertChange {
            rule: "g/r".into(),
            component: "c".into(),
            partition: String::new(),
            transition: "firing".into(),
            value: None,
            at,
        }
    }

    #[test]
    fn a_failed_write_is_carried_to_the_next_with_the_newest_state_per_alert() {
        let mut u = Unsaved::default();
        u.put_back(
            vec![row("a", "pending", 1), row("b", "firing", 1)],
            vec![change(1)],
        );
        let (rows, changes) = u.take_with(vec![row("a", "firing", 2)], vec![change(2)]);
        assert_eq!(
            u.take_with(Vec::new(), Vec::new()),
            (Vec::new(), Vec::new())
        );
        let states: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.component.as_str(), r.state.as_str()))
            .collect();
        assert_eq!(states, [("b", "firing"), ("a", "firing")]);
        assert_eq!(changes.iter().map(|c| c.at).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn history_waiting_for_a_database_that_stays_down_is_bounded() {
        let mut u = Unsaved::default();
        for at in 0..(MAX_CHANGES as u64 + 5) {
            u.put_back(vec![row("a", "firing", at)], vec![change(at)]);
        }
        assert_eq!(u.dropped_changes, 5);
        let (rows, changes) = u.take_with(Vec::new(), Vec::new());
        assert_eq!(rows.len(), 1);
        assert_eq!(changes.len(), MAX_CHANGES);
        assert_eq!(changes[0].at, 5, "the oldest went first");
    }
}
