//! The ledger's row cache (`ledger::rows`) on real PostgreSQL: a batch of callbacks reads the
//! payments the cache lacks in one statement, and its units then find them kept.

use crate::helpers::TestDb;

/// `ledger::rows::preload` reads the payments the row cache lacks, two or more, in one statement
/// and keeps them; a later `load` then takes the kept row without reading (shown by a change made
/// behind the cache's back, which the kept row does not have).
#[tokio::test]
async fn a_batch_preload_keeps_the_missing_rows_so_loads_need_no_read() {
    use bnpl::ledger::rows;
    let (_db, pool) = TestDb::migrated().await;
    let mut conn = pool.acquire().await.unwrap();
    let ids = ["preload-1", "preload-2", "preload-3"];
    for id in ids {
        crate::helpers::create_humm_payment(&mut conn, id).await;
        rows::forget(id);
    }
    rows::preload(&mut conn, vec![ids[0].to_owned(), ids[1].to_owned()])
        .await
        .unwrap();
    // Alone, a missing row is left to its unit's own read.
    rows::preload(&mut conn, vec![ids[2].to_owned()]).await.unwrap();
    sqlx::query("UPDATE payments SET reason = '{\"behind\": \"the cache\"}' WHERE payment_id = ANY($1)")
        .bind(ids.map(str::to_owned).to_vec())
        .execute(&mut *conn)
        .await
        .unwrap();
    for (id, kept) in [(ids[0], true), (ids[1], true), (ids[2], false)] {
        let row = rows::load(&mut conn, id).await.unwrap().expect("payment");
        assert_eq!(row.reason.is_none(), kept, "{id}: {:?}", row.reason);
        rows::forget(id);
    }
}
