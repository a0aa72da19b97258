//! The log's SQL for PostgreSQL (the statements themselves: `engine.rs`).
//!
//! The head row's lock (`SELECT … FOR UPDATE`) is the one sequencer:
//! concurrent appenders queue on it, and a rolled-back transaction leaves no
//! gap because the head moves only with it.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres};

/// `audit_nodes.level` is a SMALLINT here (levels are 1–63).
fn level_in(level: i64) -> i16 {
    i16::try_from(level).unwrap_or(i16::MAX)
}

fn level_out(level: i16) -> i64 {
    i64::from(level)
}

super::engine::backend! {
    conn: PgConnection,
    row: PgRow,
    db: Postgres,
    // Rows per multi-row statement (PostgreSQL allows 65535 bound values).
    chunk: 500,
    lock_head: "SELECT size, frontier, checkpoint_size, checkpoint_us FROM audit_head WHERE id = 1 FOR UPDATE",
    // The small columns travel as one value: the driver's cost is per
    // value, and a full verify reads every row.
    meta: "encode(event_id, 'hex') || ',' || encode(convert_to(kind, 'UTF8'), 'hex') || ',' || coalesce(encode(convert_to(case_ref, 'UTF8'), 'hex'), '-') || ',' || time_us::text || ',' || coalesce(encode(convert_to(actor, 'UTF8'), 'hex'), '-')",
    level_in: level_in,
    level_out: level_out,
}
