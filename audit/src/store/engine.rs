//! The log's SQL, written once for both engines: [`backend!`] implements
//! [`Backend`] for a connection type; `sqlite.rs` and `postgres.rs` give
//! what differs (how the head row is locked, how an event's small columns
//! are packed into one value, the type of the `level` column).
//!
//! Placeholders are `$N`, which both sqlx drivers read positionally.

/// Implements `Backend` for one engine. `lock_head` is the statement that
/// takes the sequencer's lock and returns the head row; `meta` the SQL
/// expression `hex(event_id),hex(kind),hex(case_ref) or -,time_us,hex(actor) or -`
/// as text;
/// `level_in`/`level_out` convert the node level to and from the column's type.
macro_rules! backend {
    (
        conn: $conn:ty,
        row: $row:ty,
        db: $db:ty,
        chunk: $chunk:expr,
        lock_head: $lock_head:literal,
        meta: $meta:literal,
        level_in: $level_in:path,
        level_out: $level_out:path $(,)?
    ) => {
        use $crate::hash::Hash;
        use $crate::store::backend::{
            Backend, EventFilter, EventRow, Head, KeyringRow, ListFrom, StoredCheckpoint, StoredEvent, StoredNode,
            SubjectKeyRow, stored_event, to_i64,
        };
        use $crate::tree::NodeId;
        use sqlx::{QueryBuilder, Row};

        type R<T> = Result<T, sqlx::Error>;

        const CHUNK: usize = $chunk;

        fn head(row: &$row) -> R<Head> {
            Ok(Head {
                size: u64::try_from(row.try_get::<i64, _>("size")?).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                frontier: row.try_get("frontier")?,
                checkpoint_size: u64::try_from(row.try_get::<i64, _>("checkpoint_size")?)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                checkpoint_us: row.try_get("checkpoint_us")?,
            })
        }

        fn checkpoint(row: &$row) -> R<StoredCheckpoint> {
            Ok(StoredCheckpoint {
                size: row.try_get("size")?,
                root: row.try_get("root")?,
                note: row.try_get("note")?,
                created_us: row.try_get("created_us")?,
            })
        }

        fn subject_key(row: &$row) -> R<SubjectKeyRow> {
            Ok(SubjectKeyRow {
                key_id: row.try_get("key_id")?,
                subject_id: row.try_get("subject_id")?,
                master_key_id: row.try_get("master_key_id")?,
                wrapped: row.try_get("wrapped")?,
            })
        }

        fn keyring(row: &$row) -> R<KeyringRow> {
            Ok(KeyringRow {
                purpose: row.try_get("purpose")?,
                master_key_id: row.try_get("master_key_id")?,
                wrapped: row.try_get("wrapped")?,
            })
        }

        impl Backend for $conn {
            async fn lock_head(&mut self) -> R<Option<Head>> {
                let row = sqlx::query($lock_head).fetch_optional(&mut *self).await?;
                row.as_ref().map(head).transpose()
            }

            async fn read_head(&mut self) -> R<Option<Head>> {
                let row = sqlx::query("SELECT size, frontier, checkpoint_size, checkpoint_us FROM audit_head WHERE id = 1")
                    .fetch_optional(&mut *self)
                    .await?;
                row.as_ref().map(head).transpose()
            }

            async fn update_head(&mut self, h: &Head) -> R<()> {
                sqlx::query(
                    "UPDATE audit_head SET size = $1, frontier = $2, checkpoint_size = $3, checkpoint_us = $4 WHERE id = 1",
                )
                .bind(to_i64(h.size)?)
                .bind(&h.frontier)
                .bind(to_i64(h.checkpoint_size)?)
                .bind(h.checkpoint_us)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn insert_events(&mut self, rows: &[EventRow]) -> R<()> {
                for chunk in rows.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO audit_events (seq, event_id, kind, case_ref, actor, time_us, leaf, leaf_hash) ",
                    );
                    let mut err = None;
                    q.push_values(chunk, |mut b, r| {
                        match to_i64(r.seq) {
                            Ok(seq) => b.push_bind(seq),
                            Err(e) => {
                                err = Some(e);
                                b.push_bind(-1i64)
                            }
                        };
                        b.push_bind(r.event_id.as_slice())
                            .push_bind(r.kind)
                            .push_bind(r.case_ref.as_deref())
                            .push_bind(r.actor.as_str())
                            .push_bind(r.time_us)
                            .push_bind(r.leaf.as_slice())
                            .push_bind(r.leaf_hash.0.as_slice());
                    });
                    if let Some(e) = err {
                        return Err(e);
                    }
                    q.build().execute(&mut *self).await?;
                }
                Ok(())
            }

            async fn insert_nodes(&mut self, nodes: &[(NodeId, Hash)]) -> R<()> {
                for chunk in nodes.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO audit_nodes (level, idx, hash) ");
                    let mut err = None;
                    q.push_values(chunk, |mut b, (id, h)| {
                        b.push_bind($level_in(i64::from(id.level)));
                        match to_i64(id.index) {
                            Ok(i) => b.push_bind(i),
                            Err(e) => {
                                err = Some(e);
                                b.push_bind(-1i64)
                            }
                        };
                        b.push_bind(h.0.as_slice());
                    });
                    if let Some(e) = err {
                        return Err(e);
                    }
                    q.build().execute(&mut *self).await?;
                }
                Ok(())
            }

            async fn get_nodes(&mut self, ids: &[NodeId]) -> R<Vec<(NodeId, Vec<u8>)>> {
                let mut out = Vec::with_capacity(ids.len());
                let (leaves, inner): (Vec<NodeId>, Vec<NodeId>) = ids.iter().partition(|id| id.level == 0);
                for chunk in leaves.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("SELECT seq, leaf_hash FROM audit_events WHERE seq IN (");
                    let mut sep = q.separated(", ");
                    for id in chunk {
                        sep.push_bind(to_i64(id.index)?);
                    }
                    q.push(")");
                    for row in q.build().fetch_all(&mut *self).await? {
                        let seq: i64 = row.try_get("seq")?;
                        out.push((NodeId::new(0, seq as u64), row.try_get("leaf_hash")?));
                    }
                }
                for chunk in inner.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("WITH wanted (level, idx) AS (");
                    let mut err = None;
                    q.push_values(chunk, |mut b, id| {
                        b.push_bind($level_in(i64::from(id.level)));
                        match to_i64(id.index) {
                            Ok(i) => b.push_bind(i),
                            Err(e) => {
                                err = Some(e);
                                b.push_bind(-1i64)
                            }
                        };
                    });
                    if let Some(e) = err {
                        return Err(e);
                    }
                    q.push(
                        ") SELECT n.level, n.idx, n.hash FROM wanted w \
                         JOIN audit_nodes n ON n.level = w.level AND n.idx = w.idx",
                    );
                    for row in q.build().fetch_all(&mut *self).await? {
                        let level = $level_out(row.try_get("level")?);
                        let idx: i64 = row.try_get("idx")?;
                        out.push((NodeId::new(level as u8, idx as u64), row.try_get("hash")?));
                    }
                }
                Ok(out)
            }

            async fn events_page(&mut self, from_seq: u64, limit: u32) -> R<Vec<StoredEvent>> {
                // The small columns travel as one value: the driver's cost is per
                // value, and a full verify reads every row.
                let rows = sqlx::query(concat!(
                    "SELECT seq, leaf, leaf_hash, ",
                    $meta,
                    " AS meta FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2"
                ))
                .bind(to_i64(from_seq)?)
                .bind(i64::from(limit))
                .fetch_all(&mut *self)
                .await?;
                rows.iter()
                    .map(|r| {
                        stored_event(
                            r.try_get("seq")?,
                            r.try_get("leaf")?,
                            r.try_get("leaf_hash")?,
                            r.try_get::<String, _>("meta")?,
                        )
                    })
                    .collect()
            }

            async fn events_listed(&mut self, f: &EventFilter, from: ListFrom, limit: u32) -> R<Vec<(i64, Vec<u8>)>> {
                // Only the conditions that are set, so that each engine's
                // planner sees plain equalities and ranges it can take to an
                // index (an `$1 IS NULL OR …` form would defeat that).
                let mut q = QueryBuilder::<$db>::new("SELECT seq, leaf FROM audit_events WHERE 1 = 1");
                if let Some(c) = &f.case_ref {
                    q.push(" AND case_ref = ").push_bind(c.clone());
                }
                if let Some(a) = &f.actor {
                    q.push(" AND actor = ").push_bind(a.clone());
                }
                if let Some(k) = f.kind {
                    q.push(" AND kind = ").push_bind(k.as_str());
                }
                if let Some(t) = f.from_us {
                    q.push(" AND time_us >= ").push_bind(t);
                }
                if let Some(t) = f.until_us {
                    q.push(" AND time_us < ").push_bind(t);
                }
                match from {
                    ListFrom::Newest => q.push(" ORDER BY seq DESC"),
                    ListFrom::Before(s) => q.push(" AND seq < ").push_bind(to_i64(s)?).push(" ORDER BY seq DESC"),
                    ListFrom::After(s) => q.push(" AND seq > ").push_bind(to_i64(s)?).push(" ORDER BY seq ASC"),
                };
                q.push(" LIMIT ").push_bind(i64::from(limit));
                let rows = q.build().fetch_all(&mut *self).await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("seq")?, r.try_get("leaf")?)))
                    .collect()
            }

            async fn nodes_page(&mut self, after: (i64, i64), limit: u32) -> R<Vec<StoredNode>> {
                let rows = sqlx::query(
                    "SELECT level, idx, hash FROM audit_nodes WHERE (level, idx) > ($1, $2) ORDER BY level, idx LIMIT $3",
                )
                .bind($level_in(after.0))
                .bind(after.1)
                .bind(i64::from(limit))
                .fetch_all(&mut *self)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(StoredNode {
                            level: $level_out(r.try_get("level")?),
                            idx: r.try_get("idx")?,
                            hash: r.try_get("hash")?,
                        })
                    })
                    .collect()
            }

            async fn level_shape(&mut self, level: i64) -> R<(i64, Option<i64>, Option<i64>)> {
                let row = sqlx::query("SELECT count(*) AS n, min(idx) AS lo, max(idx) AS hi FROM audit_nodes WHERE level = $1")
                    .bind($level_in(level))
                    .fetch_one(&mut *self)
                    .await?;
                Ok((row.try_get("n")?, row.try_get("lo")?, row.try_get("hi")?))
            }

            async fn node_count(&mut self) -> R<i64> {
                sqlx::query_scalar("SELECT count(*) FROM audit_nodes")
                    .fetch_one(&mut *self)
                    .await
            }

            async fn level_hashes(&mut self, level: i64, from_idx: i64, limit: u32) -> R<Vec<Vec<u8>>> {
                sqlx::query_scalar("SELECT hash FROM audit_nodes WHERE level = $1 AND idx >= $2 ORDER BY idx LIMIT $3")
                    .bind($level_in(level))
                    .bind(from_idx)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self)
                    .await
            }

            async fn checkpoints(&mut self) -> R<Vec<StoredCheckpoint>> {
                let rows = sqlx::query("SELECT size, root, note, created_us FROM audit_checkpoints ORDER BY size")
                    .fetch_all(&mut *self)
                    .await?;
                rows.iter().map(checkpoint).collect()
            }

            async fn checkpoint_latest(&mut self) -> R<Option<StoredCheckpoint>> {
                let row = sqlx::query("SELECT size, root, note, created_us FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
                    .fetch_optional(&mut *self)
                    .await?;
                row.as_ref().map(checkpoint).transpose()
            }

            async fn checkpoints_after(&mut self, size: u64, limit: u32) -> R<Vec<StoredCheckpoint>> {
                let rows = sqlx::query(
                    "SELECT size, root, note, created_us FROM audit_checkpoints WHERE size > $1 ORDER BY size LIMIT $2",
                )
                .bind(to_i64(size)?)
                .bind(i64::from(limit))
                .fetch_all(&mut *self)
                .await?;
                rows.iter().map(checkpoint).collect()
            }

            async fn checkpoint_at(&mut self, size: u64) -> R<Option<StoredCheckpoint>> {
                let row = sqlx::query("SELECT size, root, note, created_us FROM audit_checkpoints WHERE size = $1")
                    .bind(to_i64(size)?)
                    .fetch_optional(&mut *self)
                    .await?;
                row.as_ref().map(checkpoint).transpose()
            }

            async fn insert_checkpoint(&mut self, cp: &StoredCheckpoint) -> R<()> {
                sqlx::query("INSERT INTO audit_checkpoints (size, root, note, created_us) VALUES ($1, $2, $3, $4)")
                    .bind(cp.size)
                    .bind(&cp.root)
                    .bind(&cp.note)
                    .bind(cp.created_us)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn keyring_get(&mut self, purpose: &str) -> R<Option<KeyringRow>> {
                let row = sqlx::query("SELECT purpose, master_key_id, wrapped FROM audit_keyring WHERE purpose = $1")
                    .bind(purpose)
                    .fetch_optional(&mut *self)
                    .await?;
                row.as_ref().map(keyring).transpose()
            }

            async fn keyring_all(&mut self) -> R<Vec<KeyringRow>> {
                let rows = sqlx::query("SELECT purpose, master_key_id, wrapped FROM audit_keyring ORDER BY purpose")
                    .fetch_all(&mut *self)
                    .await?;
                rows.iter().map(keyring).collect()
            }

            async fn keyring_insert(&mut self, row: &KeyringRow) -> R<()> {
                sqlx::query("INSERT INTO audit_keyring (purpose, master_key_id, wrapped) VALUES ($1, $2, $3)")
                    .bind(&row.purpose)
                    .bind(&row.master_key_id)
                    .bind(&row.wrapped)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn keyring_update(&mut self, row: &KeyringRow) -> R<()> {
                sqlx::query("UPDATE audit_keyring SET master_key_id = $2, wrapped = $3 WHERE purpose = $1")
                    .bind(&row.purpose)
                    .bind(&row.master_key_id)
                    .bind(&row.wrapped)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn subject_key_for(&mut self, subject_id: &[u8]) -> R<Option<SubjectKeyRow>> {
                let row = sqlx::query(
                    "SELECT key_id, subject_id, master_key_id, wrapped FROM audit_subject_keys WHERE subject_id = $1",
                )
                .bind(subject_id)
                .fetch_optional(&mut *self)
                .await?;
                row.as_ref().map(subject_key).transpose()
            }

            async fn subject_key_by_id(&mut self, key_id: &[u8]) -> R<Option<SubjectKeyRow>> {
                let row =
                    sqlx::query("SELECT key_id, subject_id, master_key_id, wrapped FROM audit_subject_keys WHERE key_id = $1")
                        .bind(key_id)
                        .fetch_optional(&mut *self)
                        .await?;
                row.as_ref().map(subject_key).transpose()
            }

            async fn subject_key_insert(&mut self, row: &SubjectKeyRow, created_seq: u64) -> R<()> {
                sqlx::query(
                    "INSERT INTO audit_subject_keys (key_id, subject_id, master_key_id, wrapped, created_seq) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&row.key_id)
                .bind(&row.subject_id)
                .bind(&row.master_key_id)
                .bind(&row.wrapped)
                .bind(to_i64(created_seq)?)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn subject_keys_delete(&mut self, subject_id: &[u8]) -> R<u64> {
                let r = sqlx::query("DELETE FROM audit_subject_keys WHERE subject_id = $1")
                    .bind(subject_id)
                    .execute(&mut *self)
                    .await?;
                Ok(r.rows_affected())
            }

            async fn subject_keys_all(&mut self) -> R<Vec<SubjectKeyRow>> {
                let rows =
                    sqlx::query("SELECT key_id, subject_id, master_key_id, wrapped FROM audit_subject_keys ORDER BY key_id")
                        .fetch_all(&mut *self)
                        .await?;
                rows.iter().map(subject_key).collect()
            }

            async fn subject_key_update(&mut self, row: &SubjectKeyRow) -> R<()> {
                sqlx::query("UPDATE audit_subject_keys SET master_key_id = $2, wrapped = $3 WHERE key_id = $1")
                    .bind(&row.key_id)
                    .bind(&row.master_key_id)
                    .bind(&row.wrapped)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(super) use backend;
