//! How deeply a statement nests data types, measured without recursion.
//!
//! The parser builds `INT[][]…[]` and `ARRAY<ARRAY<…>>` as types as deep as
//! the text is long, and nothing that later walks them (the visitor below,
//! the planner, Arrow's schema encoding on the threads that answer) counts
//! that depth. So the types a statement writes are measured here first.

use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, DataType, Expr, LambdaFunctionParameter, OneOrManyWithParens, TableFactor,
};

/// The deepest of the data types that `expr` itself writes (not those of
/// its sub-expressions, which the visitor meets on their own).
pub(super) fn in_expr(expr: &Expr) -> usize {
    match expr {
        Expr::Cast { data_type, .. } => deepest([data_type]),
        Expr::Convert { data_type, .. } => deepest(data_type),
        Expr::TypedString(typed) => deepest([&typed.data_type]),
        Expr::Struct { fields, .. } => deepest(fields.iter().map(|f| &f.field_type)).saturating_add(1),
        Expr::Lambda(lambda) => {
            let params: Vec<&LambdaFunctionParameter> = match &lambda.params {
                OneOrManyWithParens::One(p) => vec![p],
                OneOrManyWithParens::Many(ps) => ps.iter().collect(),
            };
            deepest(params.into_iter().filter_map(|p| p.data_type.as_ref()))
        }
        _ => 0,
    }
}

/// The deepest of the column types a table's alias declares.
pub(super) fn in_table(table: &TableFactor) -> usize {
    let alias = match table {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
        _ => None,
    };
    alias.map_or(0, |a| deepest(a.columns.iter().filter_map(|c| c.data_type.as_ref())))
}

/// The deepest nesting among `types` (a plain type is 1 deep).
pub(super) fn deepest<'a>(types: impl IntoIterator<Item = &'a DataType>) -> usize {
    let mut deepest = 0;
    let mut pending: Vec<(&DataType, usize)> = types.into_iter().map(|t| (t, 1)).collect();
    while let Some((t, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        let inner = depth + 1;
        match t {
            DataType::Array(
                ArrayElemTypeDef::AngleBracket(c)
                | ArrayElemTypeDef::SquareBracket(c, _)
                | ArrayElemTypeDef::Parenthesis(c),
            )
            | DataType::Nullable(c)
            | DataType::LowCardinality(c) => pending.push((c, inner)),
            DataType::Map(k, v) => pending.extend([(k.as_ref(), inner), (v.as_ref(), inner)]),
            DataType::Tuple(fields) | DataType::Struct(fields, _) => {
                pending.extend(fields.iter().map(|f| (&f.field_type, inner)));
            }
            DataType::Union(fields) => pending.extend(fields.iter().map(|f| (&f.field_type, inner))),
            DataType::Nested(columns) | DataType::Table(Some(columns)) | DataType::NamedTable { columns, .. } => {
                pending.extend(columns.iter().map(|c| (&c.data_type, inner)));
            }
            _ => {}
        }
    }
    deepest
}

/// How deeply an Arrow type nests (a plain type is 1 deep), measured
/// without recursion: what the answer's schema makes every later step
/// (encoding it for the client, dropping it) recurse over.
pub(crate) fn arrow_depth<'a>(types: impl IntoIterator<Item = &'a arrow::datatypes::DataType>) -> usize {
    use arrow::datatypes::DataType as A;
    let mut deepest = 0;
    let mut pending: Vec<(&A, usize)> = types.into_iter().map(|t| (t, 1)).collect();
    while let Some((t, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        let inner = depth + 1;
        match t {
            A::List(f)
            | A::LargeList(f)
            | A::ListView(f)
            | A::LargeListView(f)
            | A::FixedSizeList(f, _)
            | A::Map(f, _) => {
                pending.push((f.data_type(), inner));
            }
            A::Struct(fields) => pending.extend(fields.iter().map(|f| (f.data_type(), inner))),
            A::Union(fields, _) => pending.extend(fields.iter().map(|(_, f)| (f.data_type(), inner))),
            A::Dictionary(k, v) => pending.extend([(k.as_ref(), inner), (v.as_ref(), inner)]),
            A::RunEndEncoded(r, v) => pending.extend([(r.data_type(), inner), (v.data_type(), inner)]),
            _ => {}
        }
    }
    deepest
}
