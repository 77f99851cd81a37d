//! A client's SQL, checked before it is planned.
//!
//! DataFusion's planner and optimizer recurse over the expression tree, and
//! the parser builds chains such as `1+1+…`, `a AND b AND …` or `… UNION
//! ALL …` as trees as deep as the chain is long without counting them
//! against its recursion limit. Planned as they are, a few kilobytes of SQL
//! overflow the stack (which aborts the process) or take seconds to plan.
//! So the text is bounded in length, parsed, and its nesting measured
//! before anything else sees it.

use std::ops::ControlFlow;

use datafusion::execution::SessionState;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Query, SetExpr, TableFactor, Visit, Visitor};

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
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state.sql_to_statement(sql, &dialect).map_err(Error::query)?;
    let inner = match &statement {
        DfStatement::Statement(s) => s.as_ref(),
        DfStatement::Explain(e) => match e.statement.as_ref() {
            DfStatement::Statement(s) => s.as_ref(),
            _ => return Err(refused("EXPLAIN of a query only")),
        },
        DfStatement::CreateExternalTable(_) => return Err(refused("DDL not supported: CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => return Err(refused("DML not supported: COPY")),
        other => return Err(refused(&format!("not supported here: {other}"))),
    };
    let mut depth = Depth {
        limit: limits.max_expr_depth,
        ..Default::default()
    };
    if let ControlFlow::Break(what) = inner.visit(&mut depth) {
        return Err(Error::Refused {
            detail: format!(
                "the statement nests {what} deeper than {} levels, the most this server plans (--max-expr-depth)",
                limits.max_expr_depth
            ),
        });
    }
    Ok(Checked {
        statement,
        builders: depth.builders + depth.tables,
    })
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
        self.enter("expressions")
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<Self::Break> {
        self.leave()
    }

    fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<Self::Break> {
        self.tables += 1;
        if self.tables > self.limit {
            return ControlFlow::Break("tables and joins");
        }
        ControlFlow::Continue(())
    }
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
    fn long_text_and_non_queries_are_refused() {
        let long = format!("SELECT 1{}", " ".repeat(100_001));
        assert!(check(&long).expect_err("long").to_string().contains("--max-sql-bytes"));
        let copy = check("COPY (SELECT 1) TO '/tmp/x' STORED AS CSV").expect_err("copy");
        assert!(copy.to_string().contains("DML not supported"), "{copy}");
        let multi = check("SELECT 1; SELECT 2").expect_err("two statements");
        assert!(matches!(multi, Error::Refused { .. }), "{multi:?}");
    }
}
