//! One SQL text for both engines: a statement with `$n` placeholders and its arguments, run on whichever database is open.
//!
//! sqlx binds SQLite's `$n` by number, as PostgreSQL does, so a statement is
//! written once. What the engines really do differently (bulk inserts, locks,
//! how a write transaction begins) stays in the callers, each fork commented.

use super::Database;
use crate::StoreError;
use sqlx::postgres::PgRow;
use sqlx::query::Query;
use sqlx::sqlite::SqliteRow;
use sqlx::{Encode, FromRow, Postgres, Sqlite, Type};
use std::borrow::Cow;

/// SQLite write transactions take the write lock up front: a deferred
/// transaction that reads first and then writes gets SQLITE_BUSY at once,
/// without waiting, when another connection is writing.
const SQLITE_WRITE_TRANSACTION: &str = "BEGIN IMMEDIATE";

/// One argument of a statement, in the few types weir's tables use.
pub(super) enum Arg<'a> {
    /// INTEGER / BIGINT.
    Int(Option<i64>),
    /// REAL / DOUBLE PRECISION.
    Real(Option<f64>),
    /// TEXT.
    Text(Option<Cow<'a, str>>),
    /// INTEGER on SQLite, BOOLEAN on PostgreSQL.
    Bool(bool),
    /// BLOB on SQLite, BYTEA on PostgreSQL.
    Bytes(&'a [u8]),
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<Option<f64>> for Arg<'_> {
    fn from(v: Option<f64>) -> Self {
        Arg::Real(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}

impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v.map(Cow::Owned))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}

/// A statement and its arguments, `$1` being the first.
pub(super) struct Sql<'a> {
    text: &'static str,
    args: Vec<Arg<'a>>,
}

/// A statement to bind arguments to.
pub(super) fn sql<'a>(text: &'static str) -> Sql<'a> {
    Sql {
        text,
        args: Vec::new(),
    }
}

impl<'a> Sql<'a> {
    /// Binds the next argument.
    pub(super) fn bind(mut self, arg: impl Into<Arg<'a>>) -> Self {
        self.args.push(arg.into());
        self
    }

    fn prepare<DB: sqlx::Database>(&self) -> Query<'_, DB, <DB as sqlx::Database>::Arguments>
    where
        for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
        for<'q> Option<f64>: Encode<'q, DB> + Type<DB>,
        for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
        for<'q> bool: Encode<'q, DB> + Type<DB>,
        for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    {
        let mut query = sqlx::query::<DB>(self.text);
        for arg in &self.args {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Real(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.as_deref()),
                Arg::Bool(v) => query.bind(*v),
                Arg::Bytes(v) => query.bind(*v),
            };
        }
        query
    }
}

/// A row type both engines decode, such as a tuple of the selected columns.
pub(super) trait FromEitherRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> FromEitherRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

fn decode_all<R: sqlx::Row, T: for<'r> FromRow<'r, R>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(|r| T::from_row(r).map_err(StoreError::from))
        .collect()
}

fn decode_one<R: sqlx::Row, T: for<'r> FromRow<'r, R>>(
    row: Option<R>,
) -> Result<Option<T>, StoreError> {
    row.map(|r| T::from_row(&r).map_err(StoreError::from))
        .transpose()
}

impl Database {
    /// Runs a statement on the pool; returns the rows it changed.
    pub(super) async fn execute(&self, q: Sql<'_>) -> Result<u64, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => q.prepare::<Sqlite>().execute(p).await?.rows_affected(),
            Database::Postgres(p) => q.prepare::<Postgres>().execute(p).await?.rows_affected(),
        })
    }

    /// Every row a query returns.
    pub(super) async fn fetch_all<T: FromEitherRow>(
        &self,
        q: Sql<'_>,
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Database::Sqlite(p) => decode_all(q.prepare::<Sqlite>().fetch_all(p).await?),
            Database::Postgres(p) => decode_all(q.prepare::<Postgres>().fetch_all(p).await?),
        }
    }

    /// The first row a query returns, if any.
    pub(super) async fn fetch_optional<T: FromEitherRow>(
        &self,
        q: Sql<'_>,
    ) -> Result<Option<T>, StoreError> {
        match self {
            Database::Sqlite(p) => decode_one(q.prepare::<Sqlite>().fetch_optional(p).await?),
            Database::Postgres(p) => decode_one(q.prepare::<Postgres>().fetch_optional(p).await?),
        }
    }

    /// Starts a transaction that will write.
    pub(super) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            // Fork: SQLite must take its write lock at BEGIN (see
            // SQLITE_WRITE_TRANSACTION); PostgreSQL locks rows as it goes.
            Database::Sqlite(p) => Tx::Sqlite(p.begin_with(SQLITE_WRITE_TRANSACTION).await?),
            Database::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }
}

/// An open write transaction on either engine; dropped without
/// [`Tx::commit`], it rolls back.
pub(super) enum Tx {
    /// On SQLite, holding the write lock.
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    /// On PostgreSQL.
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    /// Runs a statement; returns the rows it changed.
    pub(super) async fn execute(&mut self, q: Sql<'_>) -> Result<u64, StoreError> {
        Ok(match self {
            Tx::Sqlite(t) => q
                .prepare::<Sqlite>()
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Tx::Postgres(t) => q
                .prepare::<Postgres>()
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }

    /// The first row a query returns, if any.
    pub(super) async fn fetch_optional<T: FromEitherRow>(
        &mut self,
        q: Sql<'_>,
    ) -> Result<Option<T>, StoreError> {
        match self {
            Tx::Sqlite(t) => decode_one(q.prepare::<Sqlite>().fetch_optional(&mut **t).await?),
            Tx::Postgres(t) => decode_one(q.prepare::<Postgres>().fetch_optional(&mut **t).await?),
        }
    }

    /// Every row a query returns.
    pub(super) async fn fetch_all<T: FromEitherRow>(
        &mut self,
        q: Sql<'_>,
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Tx::Sqlite(t) => decode_all(q.prepare::<Sqlite>().fetch_all(&mut **t).await?),
            Tx::Postgres(t) => decode_all(q.prepare::<Postgres>().fetch_all(&mut **t).await?),
        }
    }

    /// Commits.
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
