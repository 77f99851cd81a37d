//! `<view>@v<N>`: a view read over version `N` of the lake table it reads.
//!
//! Lake tables time-travel by name (`"scores_history@v42"`, see
//! `lake_schema`); the views over them (`scores`, the telemetry rollups)
//! are plans, not tables, so their versioned names are expanded here,
//! before planning: `"scores@v42"` becomes the view's own SQL as a derived
//! table, reading `"scores_history@v42"`. A rollup over another rollup
//! expands again, down to the table (three levels at most, fixed at build
//! time, so the expansion is bounded whatever the client wrote).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Query, Statement, TableAlias, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::{Error, Result};

/// A view: the one table it reads, and its statement.
struct View {
    input: String,
    query: Query,
}

/// Every view the server registers, by the name it is served under.
static VIEWS: LazyLock<BTreeMap<String, View>> = LazyLock::new(|| {
    let scores = naap_sql::rules::views().into_values();
    scores
        .chain(naap_sql::rules::rollups())
        .filter_map(|rule| {
            let input = rule.header.inputs.split_whitespace().next()?.to_owned();
            let query = match Parser::parse_sql(&GenericDialect {}, rule.sql).ok()?.pop()? {
                Statement::Query(query) => *query,
                _ => return None,
            };
            Some((rule.header.output.clone(), View { input, query }))
        })
        .collect()
});

/// Replaces every `<view>@v<N>` table in `statement` by the view's query
/// over `<input>@v<N>`.
pub(crate) fn expand(statement: &mut DfStatement) -> Result<()> {
    let inner = match statement {
        DfStatement::Statement(s) => s.as_mut(),
        DfStatement::Explain(e) => match e.statement.as_mut() {
            DfStatement::Statement(s) => s.as_mut(),
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    match inner.visit(&mut Expand) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(detail) => Err(Error::Refused { detail }),
    }
}

struct Expand;

impl VisitorMut for Expand {
    type Break = String;

    fn pre_visit_table_factor(&mut self, table: &mut TableFactor) -> ControlFlow<Self::Break> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = table
        else {
            return ControlFlow::Continue(());
        };
        let Some((view, version)) = versioned_view(name) else {
            return ControlFlow::Continue(());
        };
        let mut subquery = view.query.clone();
        let mut qualifier = name.0.clone();
        qualifier.pop();
        let _ = subquery.visit(&mut Rename {
            from: &view.input,
            to: {
                qualifier.push(ObjectNamePart::Identifier(Ident::with_quote(
                    '"',
                    format!("{}@v{version}", view.input),
                )));
                ObjectName(qualifier)
            },
        });
        let alias = alias.take().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: last_ident(name).cloned().unwrap_or_else(|| Ident::new("view")),
            columns: Vec::new(),
            at: None,
        });
        *table = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(subquery),
            alias: Some(alias),
            sample: None,
        };
        // The derived table is visited next: a rollup's input, itself a
        // versioned view now, expands in turn.
        ControlFlow::Continue(())
    }
}

/// Renames the relation `from` (unqualified, as views name their input).
struct Rename<'a> {
    from: &'a str,
    to: ObjectName,
}

impl VisitorMut for Rename<'_> {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<Self::Break> {
        if relation.0.len() == 1 && last_ident(relation).is_some_and(|i| i.value == self.from) {
            *relation = self.to.clone();
        }
        ControlFlow::Continue(())
    }
}

fn last_ident(name: &ObjectName) -> Option<&Ident> {
    match name.0.last()? {
        ObjectNamePart::Identifier(ident) => Some(ident),
        _ => None,
    }
}

/// The view and version a table name like `scores@v3` names.
fn versioned_view(name: &ObjectName) -> Option<(&'static View, i64)> {
    let (view, version) = last_ident(name)?.value.rsplit_once("@v")?;
    let version = version.parse::<i64>().ok().filter(|v| *v >= 0)?;
    Some((VIEWS.get(view)?, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(sql: &str) -> String {
        let mut statement = DfStatement::Statement(Box::new(
            Parser::parse_sql(&GenericDialect {}, sql).expect("sql").remove(0),
        ));
        expand(&mut statement).expect("expands");
        statement.to_string()
    }

    #[test]
    fn versioned_views_read_their_input_at_that_version() {
        let scores = expanded(r#"SELECT count(*) FROM "scores@v3""#);
        assert!(scores.contains(r#"FROM "scores_history@v3""#), "{scores}");
        assert!(scores.contains("row_number()"), "{scores}");
        assert!(scores.ends_with(r#"AS "scores@v3""#), "{scores}");
        // A rollup of a rollup expands down to the table.
        let daily = expanded(r#"SELECT * FROM naap.lake."telemetry_1d@v7" AS d"#);
        assert!(daily.contains(r#"naap.lake."telemetry_1m@v7""#), "{daily}");
        assert!(!daily.contains(r#"FROM naap.lake."telemetry_5m@v7""#), "{daily}");
        // Tables, unversioned views and unknown names stay as written.
        for same in [
            r#"SELECT * FROM "scores_history@v3""#,
            "SELECT * FROM scores",
            r#"SELECT * FROM "nothing@v3""#,
        ] {
            assert_eq!(expanded(same), same);
        }
    }
}
