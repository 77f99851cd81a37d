//! A client's SQL, checked before it is planned.
//!
//! DataFusion's planner and optimizer recurse over the expression tree, and
//! the parser builds chains such as `1+1+…`, `a AND b AND …` or `… UNION
//! ALL …` as trees as deep as the chain is long without counting them
//! against its recursion limit. Planned as they are, a few kilobytes of SQL
//! overflow the stack (which aborts the process) or take seconds to plan.
//! So the text is bounded in length, parsed, and its nesting measured
//! before anything else sees it: expressions, set operations, subqueries,
//! tables, and the data types it writes ([`types`]); only queries are
//! walked at all. Parsing and planning run on the query threads, whose
//! stacks are sized for the longest SQL accepted; what an answer hands to
//! the threads that encode it for the client (its schema) is measured
//! again after planning, whatever built it (`arrow_cast`, `make_array`, …).

mod budget;
pub(crate) mod types;
mod versioned_views;

pub(crate) use versioned_views::expand as expand_versioned_views;

use std::ops::ControlFlow;

use datafusion::execution::SessionState;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Query, SetExpr, Statement, TableFactor, Visit, Visitor};

use crate::{Error, QueryLimits, Result};

/// A checked statement and how many values it may build at once.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) statement: DfStatement,
    /// Function calls, `||` operators and tables: each may build or copy
    /// values, so they share the query's allowance for values (see
    /// [`crate::bounded`]).
    pub(crate) builders: usize,
}

/// Parses `sql` as one statement within `limits`, or says why not.
pub(crate) fn statement(state: &SessionState, sql: &str, limits: &QueryLimits) -> Result<Checked> {
    if sql.len() > limits.max_sql_bytes {
        return Err(Error::Refused {
            detail: format!(
                "the SQL is {} bytes; this server takes at most {} (--max-sql-bytes)",
                sql.len(),
                limits.max_sql_bytes
            ),
        });
    }
    let statement = parse(state, sql)?;
    let inner = match &statement {
        DfStatement::Statement(s) => s.as_ref(),
        DfStatement::Explain(e) => match e.statement.as_ref() {
            DfStatement::Statement(s) => s.as_ref(),
            _ => return Err(refused("EXPLAIN of a query only")),
        },
        DfStatement::CreateExternalTable(_) => return Err(refused("DDL not supported: CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => return Err(refused("DML not supported: COPY")),
        // Named by kind only: printing a client's statement recurses over it.
        _ => return Err(refused("Statement not supported: this server answers queries only")),
    };
    if let Some(refusal) = not_a_query(inner) {
        return Err(refusal);
    }
    let mut depth = Depth {
        limit: limits.max_expr_depth,
        ..Default::default()
    };
    if let ControlFlow::Break(what) = inner.visit(&mut depth) {
        let detail = if depth.copying > MAX_COPYING_DEPTH {
            format!("the statement nests {what} deeper than {MAX_COPYING_DEPTH} levels, the most this server plans")
        } else {
            format!(
                "the statement nests {what} deeper than {} levels, the most this server plans (--max-expr-depth)",
                limits.max_expr_depth
            )
        };
        return Err(Error::Refused { detail });
    }
    Ok(Checked {
        statement,
        builders: depth.builders + depth.tables,
    })
}

/// Why `statement` is not served, unless it reads (a query, `SHOW`,
/// `DESCRIBE`): the rest is refused before anything walks it.
fn not_a_query(statement: &Statement) -> Option<Error> {
    use Statement as S;
    let what = match statement {
        S::Query(_)
        | S::ShowTables { .. }
        | S::ShowColumns { .. }
        | S::ShowVariable { .. }
        | S::ShowFunctions { .. } => {
            return None;
        }
        S::ExplainTable { .. } => return None,
        S::Insert(_) | S::Update(_) | S::Delete(_) | S::Merge(_) | S::Copy { .. } => "DML not supported",
        S::CreateTable(_)
        | S::CreateView(_)
        | S::CreateIndex(_)
        | S::CreateSchema { .. }
        | S::CreateDatabase { .. }
        | S::CreateFunction(_)
        | S::CreateType { .. }
        | S::AlterTable(_)
        | S::Drop { .. }
        | S::DropFunction(_)
        | S::Truncate(_) => "DDL not supported",
        _ => "Statement not supported",
    };
    Some(refused(&format!(
        "{what}: this server is read-only and answers queries only"
    )))
}

/// The one statement of `sql`, parsed within a budget of work (see
/// [`budget`]).
fn parse(state: &SessionState, sql: &str) -> Result<DfStatement> {
    let dialect = budget::Budgeted::for_sql(sql);
    let limit = usize::from(state.config().options().sql_parser.recursion_limit);
    let parsed = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .with_recursion_limit(limit)
        .build()
        .and_then(|mut parser| parser.parse_statements());
    if dialect.spent() {
        return Err(refused(
            "the statement takes too much work to parse (nested CAST, CASE, SUBSTRING, POSITION and similar forms that do not parse make the parser try each twice)",
        ));
    }
    let mut statements = parsed.map_err(Error::query)?;
    match (statements.pop_front(), statements.is_empty()) {
        (Some(statement), true) => Ok(statement),
        (None, _) => Err(refused("no statement to run")),
        (Some(_), false) => Err(refused(
            "one statement at a time: this server runs a single SQL statement per query",
        )),
    }
}

fn refused(detail: &str) -> Error {
    Error::Refused {
        detail: detail.to_owned(),
    }
}

/// Measures nesting while visiting, and stops at the first level past
/// `limit`: the visit itself never recurses deeper than that.
#[derive(Debug, Default)]
struct Depth {
    limit: usize,
    now: usize,
    tables: usize,
    builders: usize,
    /// Calls nested in calls that planning rewrites by copying an argument.
    copying: usize,
}

/// Functions the planner rewrites into CASE expressions that repeat an
/// argument: nested, the copies multiply (32 nested `coalesce` took 30 s
/// and 6 GB to plan, 64 took 16 GB).
const COPYING_FUNCTIONS: [&str; 4] = ["coalesce", "nvl", "ifnull", "nvl2"];
/// How deep they may nest.
const MAX_COPYING_DEPTH: usize = 8;

/// Whether `expr` calls one of [`COPYING_FUNCTIONS`].
fn copies(expr: &Expr) -> bool {
    let Expr::Function(f) = expr else { return false };
    f.name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .is_some_and(|name| COPYING_FUNCTIONS.iter().any(|c| name.value.eq_ignore_ascii_case(c)))
}

impl Depth {
    fn enter(&mut self, what: &'static str) -> ControlFlow<&'static str> {
        self.now += 1;
        if self.now > self.limit {
            ControlFlow::Break(what)
        } else {
            ControlFlow::Continue(())
        }
    }

    fn leave(&mut self) -> ControlFlow<&'static str> {
        self.now = self.now.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

impl Visitor for Depth {
    type Break = &'static str;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Self::Break> {
        if set_operations(&query.body) > self.limit {
            return ControlFlow::Break("set operations (UNION, INTERSECT, EXCEPT)");
        }
        self.enter("subqueries")
    }

    fn post_visit_query(&mut self, _: &Query) -> ControlFlow<Self::Break> {
        self.leave()
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Self::Break> {
        if matches!(
            expr,
            Expr::Function(_)
                | Expr::BinaryOp {
                    op: BinaryOperator::StringConcat,
                    ..
                }
        ) {
            self.builders += 1;
        }
        if types::in_expr(expr) > self.limit {
            return ControlFlow::Break("data types");
        }
        if copies(expr) {
            self.copying += 1;
            if self.copying > MAX_COPYING_DEPTH {
                return ControlFlow::Break("COALESCE, NVL, IFNULL and NVL2 calls (planning copies their arguments)");
            }
        }
        self.enter("expressions")
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Self::Break> {
        if copies(expr) {
            self.copying = self.copying.saturating_sub(1);
        }
        self.leave()
    }

    fn pre_visit_table_factor(&mut self, table: &TableFactor) -> ControlFlow<Self::Break> {
        if types::in_table(table) > self.limit {
            return ControlFlow::Break("data types");
        }
        self.tables += 1;
        if self.tables > self.limit {
            return ControlFlow::Break("tables and joins");
        }
        ControlFlow::Continue(())
    }
}

/// Refuses an answer whose column types nest deeper than the statement
/// limit: its schema and batches are encoded (and dropped) on the threads
/// that serve connections, whose stacks are the runtime's default.
pub(crate) fn answer(schema: &arrow::datatypes::Schema, limits: &QueryLimits) -> Result<()> {
    let depth = types::arrow_depth(schema.fields().iter().map(|f| f.data_type()));
    if depth > limits.max_expr_depth {
        return Err(Error::Refused {
            detail: format!(
                "the answer's column types nest {depth} levels deep, more than {}, the most this server sends (--max-expr-depth)",
                limits.max_expr_depth
            ),
        });
    }
    Ok(())
}

/// The longest chain of set operations in `body`, walked without recursion.
fn set_operations(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(body, 0usize)];
    while let Some((expr, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        if let SetExpr::SetOperation { left, right, .. } = expr {
            pending.push((left, depth + 1));
            pending.push((right, depth + 1));
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_argument_copying_calls_are_bounded() {
        let limits = QueryLimits::default();
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_default_features()
            .build();
        let nested = |f: &str, n: usize| format!("SELECT {}1{}", format!("{f}(").repeat(n), ", 1)".repeat(n));
        for f in COPYING_FUNCTIONS {
            assert!(statement(&state, &nested(f, MAX_COPYING_DEPTH), &limits).is_ok(), "{f}");
            let err = statement(&state, &nested(&f.to_uppercase(), MAX_COPYING_DEPTH + 1), &limits)
                .expect_err(f)
                .to_string();
            assert!(err.contains("deeper than 8 levels"), "{err}");
        }
        // Side by side they do not multiply: many at one level are fine.
        let wide = format!("SELECT {}", vec!["coalesce(coalesce(1, 1), 1)"; 50].join(", "));
        assert!(statement(&state, &wide, &limits).is_ok());
    }

    fn check(sql: &str) -> Result<Checked> {
        let limits = QueryLimits {
            max_expr_depth: 64,
            max_sql_bytes: 100_000,
            ..Default::default()
        };
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_default_features()
            .build();
        statement(&state, sql, &limits)
    }

    fn chain(op: &str, n: usize) -> String {
        format!("SELECT {}", vec!["1"; n].join(op))
    }

    #[test]
    fn deep_chains_are_refused_and_shallow_ones_pass() {
        for (sql, what) in [
            (chain(" + ", 2000), "expressions"),
            (chain(" AND ", 2000), "expressions"),
            (chain(" || ", 2000), "expressions"),
            (vec!["SELECT 1"; 500].join(" UNION ALL "), "set operations"),
            (
                format!("SELECT 1 FROM {}", vec!["(VALUES (1)) AS t"; 100].join(" CROSS JOIN ")),
                "tables",
            ),
        ] {
            let err = check(&sql).expect_err("too deep");
            assert!(err.to_string().contains(what), "{err}");
            assert!(err.to_string().contains("--max-expr-depth"), "{err}");
        }
        check(&chain(" + ", 50)).expect("50 terms");
        let shape = check("SELECT repeat(a, 2) || b, upper(c) FROM t JOIN u ON true").expect("shallow");
        assert_eq!(shape.builders, 5, "two calls, one ||, two tables");
        check(&vec!["SELECT 1"; 50].join(" UNION ALL ")).expect("50 selects");
    }

    #[test]
    fn deep_types_are_refused_before_anything_walks_them() {
        // Parsed where client SQL is parsed: on a query thread's stack.
        std::thread::Builder::new()
            .stack_size(crate::admission::QUERY_STACK_BYTES)
            .spawn(deep_types)
            .expect("a thread")
            .join()
            .expect("no panic");
    }

    fn deep_types() {
        let deep = [
            format!("SELECT CAST(NULL AS INT{})", "[]".repeat(16_000)),
            format!("SELECT CAST(NULL AS {}INT{})", "ARRAY<".repeat(2000), ">".repeat(2000)),
            format!(
                "SELECT CAST(NULL AS {}INT{})",
                "STRUCT<a ".repeat(2000),
                ">".repeat(2000)
            ),
            format!("SELECT NULL::INT{}", "[]".repeat(100)),
            format!("SELECT x FROM t AS u(x INT{})", "[]".repeat(100)),
        ];
        for sql in deep {
            let err = check(&sql).expect_err("too deep");
            assert!(err.to_string().contains("data types"), "{}: {err}", &sql[..40]);
        }
        check(&format!("SELECT CAST(NULL AS INT{})", "[]".repeat(60))).expect("60 levels");
        let many = format!("SELECT {}", vec!["CAST(NULL AS INT[][])"; 200].join(", "));
        check(&many).expect("many shallow types");
    }

    #[test]
    fn answers_with_deep_types_are_refused() {
        use arrow::datatypes::{DataType, Field, Schema};
        let mut t = DataType::Int32;
        for _ in 0..300 {
            t = DataType::new_list(t, true);
        }
        let limits = QueryLimits::default();
        let err = answer(&Schema::new(vec![Field::new("x", t, true)]), &limits).expect_err("300 deep");
        assert!(err.to_string().contains("nest 301 levels"), "{err}");
        let flat = Schema::new(vec![Field::new("x", DataType::new_list(DataType::Utf8, true), true)]);
        answer(&flat, &limits).expect("2 deep");
    }

    #[test]
    fn parsing_that_backtracks_exponentially_runs_out_of_budget() {
        let deep = |form: &str, inner: &str, n: usize| format!("SELECT {}{inner}{}", form.repeat(n), ")".repeat(n));
        for sql in [
            deep("CAST(", "1 AS", 30),
            deep("POSITION(", "1 +", 30),
            deep("SUBSTRING(", "'a' +", 30),
            deep("NOT(", "1 +", 30),
            deep("CONVERT(", "1", 30),
            format!(
                "SELECT {}{}1{}{}",
                "CASE WHEN true THEN ".repeat(979),
                "abs(".repeat(1114),
                ")".repeat(1114),
                " END".repeat(979)
            ),
        ] {
            let started = std::time::Instant::now();
            let err = check(&sql).expect_err("refused");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "{}: {:?}",
                &sql[..40],
                started.elapsed()
            );
            assert!(matches!(err, Error::Refused { .. } | Error::Query { .. }), "{err:?}");
        }
        let err = check(&deep("POSITION(", "1 +", 30)).expect_err("refused");
        assert!(err.to_string().contains("too much work to parse"), "{err}");
        check("SELECT CAST(CAST(CAST(1 AS INT) AS BIGINT) AS DOUBLE), substring('abc', 1, 2)").expect("ordinary forms");
    }

    #[test]
    fn long_text_and_non_queries_are_refused() {
        let long = format!("SELECT 1{}", " ".repeat(100_001));
        assert!(check(&long).expect_err("long").to_string().contains("--max-sql-bytes"));
        let copy = check("COPY (SELECT 1) TO '/tmp/x' STORED AS CSV").expect_err("copy");
        assert!(copy.to_string().contains("DML not supported"), "{copy}");
        for (sql, what) in [
            ("CREATE TABLE t (x INT)", "DDL not supported"),
            ("DROP TABLE t", "DDL not supported"),
            ("INSERT INTO t VALUES (1)", "DML not supported"),
            ("SET datafusion.execution.batch_size = 1", "Statement not supported"),
            ("PREPARE p(INT) AS SELECT $1", "Statement not supported"),
        ] {
            let err = check(sql).expect_err(sql);
            assert!(err.to_string().contains(what), "{sql}: {err}");
        }
        check("SHOW TABLES").expect("SHOW reads");
        let multi = check("SELECT 1; SELECT 2").expect_err("two statements");
        assert!(matches!(multi, Error::Refused { .. }), "{multi:?}");
    }
}
