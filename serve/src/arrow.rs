//! Arrow IPC stream encoding of rows.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema};
use twinflow_views::{ColumnType, Datum, Row, ViewColumn, ViewSchema};

/// The content type of an Arrow IPC stream.
pub const CONTENT_TYPE: &str = "application/vnd.apache.arrow.stream";

/// The Arrow schema of a view: Int64 / Float64 / Utf8 columns, nullable as declared.
pub fn schema(view: &ViewSchema) -> Schema {
    Schema::new(
        view.columns
            .iter()
            .map(|column| {
                let ty = match column.ty {
                    ColumnType::Int => DataType::Int64,
                    ColumnType::Float => DataType::Float64,
                    ColumnType::Text => DataType::Utf8,
                };
                Field::new(column.name, ty, column.nullable)
            })
            .collect::<Vec<_>>(),
    )
}

/// `rows` of a view with `view` schema as one record batch in an Arrow IPC stream.
///
/// A value whose type does not match its column (which the engine never produces) is written
/// as null; in a non-nullable column that fails the batch.
pub fn encode(view: &ViewSchema, rows: &[Row]) -> Result<Vec<u8>, ArrowError> {
    let schema = Arc::new(schema(view));
    let columns = view
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| column_array(column, i, rows))
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let mut writer = StreamWriter::try_new(
        Vec::with_capacity(batch.get_array_memory_size() + 1024),
        &schema,
    )?;
    writer.write(&batch)?;
    writer.finish()?;
    writer.into_inner()
}

fn column_array(column: &ViewColumn, index: usize, rows: &[Row]) -> ArrayRef {
    let values = rows
        .iter()
        .map(move |row| row.get(index).unwrap_or(&Datum::Null));
    match column.ty {
        ColumnType::Int => {
            let mut builder = Int64Builder::with_capacity(rows.len());
            builder.extend(values.map(Datum::as_int));
            Arc::new(builder.finish())
        }
        ColumnType::Float => {
            let mut builder = Float64Builder::with_capacity(rows.len());
            builder.extend(values.map(|value| match value {
                Datum::Float(f) => Some(*f),
                Datum::Int(i) => Some(*i as f64),
                _ => None,
            }));
            Arc::new(builder.finish())
        }
        ColumnType::Text => {
            let mut builder = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
            builder.extend(values.map(|value| match value {
                Datum::Text(s) => Some(s.as_str()),
                _ => None,
            }));
            Arc::new(builder.finish())
        }
    }
}
