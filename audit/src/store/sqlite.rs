//! The log's SQL for SQLite (the statements themselves: `engine.rs`).
//!
//! The sequencer: a write as the first statement of the transaction
//! (`UPDATE audit_head … RETURNING`) takes SQLite's write lock at once, not
//! at the first insert, so the head read with it cannot go stale.

use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, SqliteConnection};

fn level_in(level: i64) -> i64 {
    level
}

fn level_out(level: i64) -> i64 {
    level
}

super::engine::backend! {
    conn: SqliteConnection,
    row: SqliteRow,
    db: Sqlite,
    // Rows per multi-row statement (SQLite allows 32766 bound values).
    chunk: 500,
    lock_head: "UPDATE audit_head SET size = size WHERE id = 1 RETURNING size, frontier, checkpoint_size, checkpoint_us",
    // The small columns travel as one value: the driver's cost is per
    // value, and a full verify reads every row.
    meta: "hex(event_id) || ',' || hex(kind) || ',' || CASE WHEN case_ref IS NULL THEN '-' ELSE hex(case_ref) END || ',' || time_us || ',' || CASE WHEN actor IS NULL THEN '-' ELSE hex(actor) END",
    level_in: level_in,
    level_out: level_out,
}
