//! [`view_row!`]: a served view's schema and its typed row, declared once, next to the dataflow
//! that builds the rows.

/// Declares the typed row of a served view: a struct with one field per column, in column
/// order, whose `DEFINITION` gives the catalog the view, what a row stands for, the key (by
/// column name) and the typed columns, and whose `into_row` builds the served row from the
/// fields. A key column that is not a field does not compile.
macro_rules! view_row {
    (
        $(#[$doc:meta])*
        struct $row:ident for $view:expr;
        description: $description:literal;
        key: [$($key:ident),+];
        columns { $($column:ident: $ty:ty),+ $(,)? }
    ) => {
        $(#[$doc])*
        pub(super) struct $row {
            $(pub(super) $column: $ty),+
        }

        impl $row {
            /// The view's schema: what the served state and the API know of it.
            pub(super) const DEFINITION: twinflow_views::ViewDefinition =
                twinflow_views::ViewDefinition {
                    view: $view,
                    description: $description,
                    key: &[$(stringify!($key)),+],
                    columns: &[$(twinflow_views::ViewColumn::of::<$ty>(stringify!($column))),+],
                };

            /// The served row, its values in column order.
            pub(super) fn into_row(self) -> twinflow_views::Row {
                let $row { $($column),+ } = self;
                std::sync::Arc::from([$(twinflow_views::Datum::from($column)),+])
            }
        }

        // Every key column is a field of the row.
        const _: fn(&$row) = |row| {
            $(let _ = &row.$key;)+
        };
    };
}

pub(super) use view_row;
