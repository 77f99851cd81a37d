//! Parsing a client's SQL within a budget of work.
//!
//! sqlparser parses `CAST(`, `POSITION(`, `SUBSTRING(`, `CASE`, `NOT(` and
//! other forms first as themselves and, when that fails anywhere inside,
//! again as something else (a function call, a typed value): a failure
//! nested n such forms deep is parsed 2^n times (POSITION's, 4^n). Twenty
//! deep, 150 bytes keep a thread busy for minutes where no deadline reaches
//! it, since parsing never yields. So a client's statement is parsed by
//! [`Budgeted`], the generic dialect with a budget: every expression the
//! parser starts spends one unit, and once they are spent every further
//! attempt fails at once, so backtracking ends within a few steps per
//! level. The budget, four units per byte of SQL, is far beyond what any
//! statement that parses without backtracking needs.

use std::any::TypeId;
use std::cell::Cell;

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

/// Units of parsing work per byte of SQL.
const UNITS_PER_BYTE: usize = 4;

/// The generic dialect (what DataFusion parses client SQL with) spending a
/// budget of work as it parses.
#[derive(Debug)]
pub(super) struct Budgeted {
    left: Cell<usize>,
    spent: Cell<bool>,
}

impl Budgeted {
    pub(super) fn for_sql(sql: &str) -> Self {
        Budgeted {
            left: Cell::new(sql.len().saturating_mul(UNITS_PER_BYTE).saturating_add(1024)),
            spent: Cell::new(false),
        }
    }

    /// Whether the parse ran out of budget (whatever error it ended with).
    pub(super) fn spent(&self) -> bool {
        self.spent.get()
    }
}

/// Methods answered as the generic dialect answers them.
macro_rules! as_generic {
    ($($name:ident),* $(,)?) => {
        $(fn $name(&self) -> bool {
            GenericDialect.$name()
        })*
    };
}

impl Dialect for Budgeted {
    /// The parser's `dialect_of!` checks see the generic dialect.
    fn dialect(&self) -> TypeId {
        TypeId::of::<GenericDialect>()
    }

    fn parse_prefix(&self, _parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                None
            }
            None => {
                self.spent.set(true);
                Some(Err(ParserError::ParserError("out of parsing budget".into())))
            }
        }
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        GenericDialect.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        GenericDialect.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        GenericDialect.is_identifier_part(ch)
    }

    as_generic!(
        supports_unicode_string_literal,
        supports_partition_by_after_order_by,
        supports_array_join_syntax,
        supports_group_by_expr,
        supports_group_by_with_modifier,
        supports_left_associative_joins_without_parens,
        supports_connect_by,
        supports_match_recognize,
        supports_pipe_operator,
        supports_start_transaction_modifier,
        supports_window_function_null_treatment_arg,
        supports_dictionary_syntax,
        supports_window_clause_named_window_reference,
        supports_parenthesized_set_variables,
        supports_select_wildcard_except,
        support_map_literal_syntax,
        allow_extract_custom,
        allow_extract_single_quotes,
        supports_extract_comma_syntax,
        supports_create_view_comment_syntax,
        supports_parens_around_table_factor,
        supports_values_as_table_factor,
        supports_create_index_with_clause,
        supports_explain_with_utility_options,
        supports_limit_comma,
        supports_update_order_by,
        supports_from_first_select,
        supports_projection_trailing_commas,
        supports_asc_desc_in_column_definition,
        supports_try_convert,
        supports_bitwise_shift_operators,
        supports_comment_on,
        supports_load_extension,
        supports_named_fn_args_with_assignment_operator,
        supports_struct_literal,
        supports_empty_projections,
        supports_nested_comments,
        supports_multiline_comment_hints,
        supports_user_host_grantee,
        supports_string_escape_constant,
        supports_array_typedef_with_brackets,
        supports_match_against,
        supports_set_names,
        supports_comma_separated_set_assignments,
        supports_filter_during_aggregation,
        supports_select_wildcard_exclude,
        supports_data_type_signed_suffix,
        supports_interval_options,
        supports_quote_delimited_string,
        supports_select_wildcard_replace,
        supports_select_wildcard_ilike,
        supports_select_wildcard_rename,
        supports_optimize_table,
        supports_install,
        supports_detach,
        supports_prewhere,
        supports_with_fill,
        supports_limit_by,
        supports_interpolate,
        supports_settings,
        supports_select_format,
        supports_comment_optimizer_hint,
        supports_constraint_keyword_without_name,
        supports_key_column_option,
        supports_comma_separated_trim,
        supports_cte_without_as,
        supports_select_item_multi_column_alias,
        supports_xml_expressions,
    );
}
