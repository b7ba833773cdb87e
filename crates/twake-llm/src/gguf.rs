//! A minimal GGUF (version 3) writer: metadata key/values and tensors whose
//! bytes are already in ggml's layout. Enough to package converted weights.

use std::io::{self, Write};

const ALIGNMENT: usize = 32;

/// ggml tensor types this writer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    F32 = 0,
    Q4_0 = 2,
}

#[derive(Debug, Clone)]
pub enum Value {
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    StrArray(Vec<String>),
    F32Array(Vec<f32>),
    I32Array(Vec<i32>),
}

pub struct Tensor<'a> {
    pub name: String,
    /// Dimensions in ggml order: `ne[0]` is the contiguous (row) length.
    pub dims: Vec<u64>,
    pub ty: TensorType,
    pub data: &'a [u8],
}

#[derive(Default)]
pub struct GgufWriter<'a> {
    kv: Vec<(String, Value)>,
    tensors: Vec<Tensor<'a>>,
}

fn put_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

impl<'a> GgufWriter<'a> {
    pub fn kv(&mut self, key: &str, value: Value) {
        self.kv.push((key.to_string(), value));
    }

    pub fn tensor(&mut self, t: Tensor<'a>) {
        self.tensors.push(t);
    }

    pub fn write(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(b"GGUF")?;
        w.write_all(&3u32.to_le_bytes())?;
        w.write_all(&(self.tensors.len() as u64).to_le_bytes())?;
        w.write_all(&(self.kv.len() as u64).to_le_bytes())?;
        let mut header_len = 4 + 4 + 8 + 8;
        let mut counting = CountingWriter { inner: w, n: 0 };
        for (k, v) in &self.kv {
            put_str(&mut counting, k)?;
            write_value(&mut counting, v)?;
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut counting, &t.name)?;
            counting.write_all(&(t.dims.len() as u32).to_le_bytes())?;
            for d in &t.dims {
                counting.write_all(&d.to_le_bytes())?;
            }
            counting.write_all(&(t.ty as u32).to_le_bytes())?;
            counting.write_all(&offset.to_le_bytes())?;
            offset += padded(t.data.len()) as u64;
        }
        header_len += counting.n;
        let w = counting.inner;
        w.write_all(&vec![0u8; padded(header_len) - header_len])?;
        for t in &self.tensors {
            w.write_all(t.data)?;
            w.write_all(&vec![0u8; padded(t.data.len()) - t.data.len()])?;
        }
        Ok(())
    }
}

fn padded(n: usize) -> usize {
    n.div_ceil(ALIGNMENT) * ALIGNMENT
}

struct CountingWriter<'w, W: Write> {
    inner: &'w mut W,
    n: usize,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_value(w: &mut impl Write, v: &Value) -> io::Result<()> {
    const U32: u32 = 4;
    const I32: u32 = 5;
    const F32: u32 = 6;
    const BOOL: u32 = 7;
    const STR: u32 = 8;
    const ARR: u32 = 9;
    match v {
        Value::U32(x) => {
            w.write_all(&U32.to_le_bytes())?;
            w.write_all(&x.to_le_bytes())
        }
        Value::I32(x) => {
            w.write_all(&I32.to_le_bytes())?;
            w.write_all(&x.to_le_bytes())
        }
        Value::F32(x) => {
            w.write_all(&F32.to_le_bytes())?;
            w.write_all(&x.to_le_bytes())
        }
        Value::Bool(x) => {
            w.write_all(&BOOL.to_le_bytes())?;
            w.write_all(&[*x as u8])
        }
        Value::Str(s) => {
            w.write_all(&STR.to_le_bytes())?;
            put_str(w, s)
        }
        Value::StrArray(items) => {
            w.write_all(&ARR.to_le_bytes())?;
            w.write_all(&STR.to_le_bytes())?;
            w.write_all(&(items.len() as u64).to_le_bytes())?;
            items.iter().try_for_each(|s| put_str(w, s))
        }
        Value::F32Array(items) => {
            w.write_all(&ARR.to_le_bytes())?;
            w.write_all(&F32.to_le_bytes())?;
            w.write_all(&(items.len() as u64).to_le_bytes())?;
            items.iter().try_for_each(|x| w.write_all(&x.to_le_bytes()))
        }
        Value::I32Array(items) => {
            w.write_all(&ARR.to_le_bytes())?;
            w.write_all(&I32.to_le_bytes())?;
            w.write_all(&(items.len() as u64).to_le_bytes())?;
            items.iter().try_for_each(|x| w.write_all(&x.to_le_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_aligned_and_counts_are_right() {
        let data = [1u8, 2, 3, 4];
        let mut g = GgufWriter::default();
        g.kv("general.architecture", Value::Str("bert".into()));
        g.tensor(Tensor { name: "t".into(), dims: vec![1], ty: TensorType::F32, data: &data });
        let mut out = Vec::new();
        g.write(&mut out).unwrap();
        assert_eq!(&out[..4], b"GGUF");
        assert_eq!(u64::from_le_bytes(out[8..16].try_into().unwrap()), 1);
        assert_eq!(u64::from_le_bytes(out[16..24].try_into().unwrap()), 1);
        assert_eq!(out.len() % 32, 0);
        assert_eq!(&out[out.len() - 32..out.len() - 28], &data);
    }
}
