//! A direct Avro binary writer for unitrack's own records ([`AvroRecord`]): a serde
//! serializer that writes each value as it comes, relying on what `records.rs` keeps true:
//! fields declared in the schema's order, `["null", T]` unions as `Option<T>`, Avro enums
//! as Rust enums whose variants follow the schema's symbols, arrays as `Vec`.
//!
//! apache-avro's serde writer looks up every field by name, every named type in a map, and
//! keeps a map for fields that arrive out of order: about 75 ns per field, 2 µs for a
//! `ShipmentEvent` (`benches/pure_path.rs`). This writer needs no schema at run time.
//! Tests compare its bytes with apache-avro's for every record shape and every enum symbol,
//! so a record that drifts from its schema fails there.

use super::AvroError;
use serde::Serialize;
use serde::ser::{self, Impossible};
use std::fmt;

/// Appends the Avro binary datum of `value` to `out`.
pub(super) fn write<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), AvroError> {
    value
        .serialize(&mut Writer { out })
        .map_err(|e| AvroError::Direct(e.0))
}

/// Why a value has no direct Avro encoding (a type the records never use).
#[derive(Debug)]
pub(super) struct Unsupported(String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

fn unsupported<T>(what: &str) -> Result<T, Unsupported> {
    Err(Unsupported(format!("{what} has no direct Avro encoding")))
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    /// Avro `int` and `long`: zig-zag, then variable-length.
    #[inline]
    fn long(&mut self, n: i64) {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        while z >= 0x80 {
            self.out.push((z as u8) | 0x80);
            z >>= 7;
        }
        self.out.push(z as u8);
    }

    #[inline]
    fn len(&mut self, len: usize) -> Result<(), Unsupported> {
        let len = i64::try_from(len).map_err(|_| Unsupported("length over i64".to_owned()))?;
        self.long(len);
        Ok(())
    }
}

impl<'a, 'b> ser::Serializer for &'a mut Writer<'b> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Array<'a, 'b>;
    type SerializeTuple = Impossible<(), Unsupported>;
    type SerializeTupleStruct = Impossible<(), Unsupported>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Impossible<(), Unsupported>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.out.push(u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
        self.long(v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }

    fn serialize_u64(self, _: u64) -> Result<(), Unsupported> {
        unsupported("u64")
    }

    fn serialize_f32(self, v: f32) -> Result<(), Unsupported> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Unsupported> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        self.serialize_bytes(v.as_bytes())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        self.len(v.len())?;
        self.out.extend_from_slice(v);
        Ok(())
    }

    /// `["null", T]`: branch 0.
    fn serialize_none(self) -> Result<(), Unsupported> {
        self.long(0);
        Ok(())
    }

    /// `["null", T]`: branch 1, then the value.
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        self.long(1);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Unsupported> {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        unsupported("a unit struct")
    }

    /// An Avro enum: the index of the symbol.
    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), Unsupported> {
        self.long(index.into());
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Unsupported> {
        unsupported("a newtype variant")
    }

    /// An Avro array, as one block: the count, the items, then an empty block.
    fn serialize_seq(self, len: Option<usize>) -> Result<Array<'a, 'b>, Unsupported> {
        let Some(len) = len else {
            return unsupported("a sequence of unknown length");
        };
        if len > 0 {
            self.len(len)?;
        }
        Ok(Array { writer: self })
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        unsupported("a tuple")
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        unsupported("a tuple struct")
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        unsupported("a tuple variant")
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        unsupported("a map")
    }

    /// An Avro record: its fields, in order, with nothing around them.
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Unsupported> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        unsupported("a struct variant")
    }
}

impl ser::SerializeStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(&mut **self)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), Unsupported> {
        unsupported(&format!("skipping field `{key}`"))
    }

    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

/// The items of an Avro array.
pub(super) struct Array<'a, 'b> {
    writer: &'a mut Writer<'b>,
}

impl ser::SerializeSeq for Array<'_, '_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.writer.long(0);
        Ok(())
    }
}
