//! A compact map from ids to rows for ids allocated in increasing order: pages of 256
//! consecutive ids, each holding only its present rows (a byte of offset plus the row each).
//! Absent ids cost nothing but their page's (empty) header.

/// Ids per page.
const PAGE: u32 = 256;

#[derive(Debug)]
struct Page<T> {
    /// Sorted offsets (`id % PAGE`) of the present rows.
    offsets: Vec<u8>,
    values: Vec<T>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            offsets: Vec::new(),
            values: Vec::new(),
        }
    }
}

/// Rows by id, for ids that mostly arrive in increasing order.
#[derive(Debug)]
pub(crate) struct Pages<T> {
    pages: Vec<Page<T>>,
    len: usize,
}

impl<T> Default for Pages<T> {
    fn default() -> Self {
        Pages {
            pages: Vec::new(),
            len: 0,
        }
    }
}

fn split(id: u32) -> (usize, u8) {
    ((id / PAGE) as usize, (id % PAGE) as u8)
}

impl<T> Pages<T> {
    fn find(&self, id: u32) -> Option<(usize, usize)> {
        let (page, offset) = split(id);
        let i = self.pages.get(page)?.offsets.binary_search(&offset).ok()?;
        Some((page, i))
    }

    /// Whether `id` is present.
    pub(crate) fn contains(&self, id: u32) -> bool {
        self.find(id).is_some()
    }

    /// The row of `id`.
    pub(crate) fn get(&self, id: u32) -> Option<&T> {
        let (page, i) = self.find(id)?;
        self.pages.get(page)?.values.get(i)
    }

    /// The row of `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        let (page, i) = self.find(id)?;
        self.pages.get_mut(page)?.values.get_mut(i)
    }

    /// Sets the row of `id` (inserting it or replacing it).
    pub(crate) fn insert(&mut self, id: u32, value: T) {
        let (page, offset) = split(id);
        if self.pages.len() <= page {
            self.pages.resize_with(page + 1, Page::default);
        }
        let Some(p) = self.pages.get_mut(page) else {
            return;
        };
        match p.offsets.binary_search(&offset) {
            Ok(i) => {
                if let Some(slot) = p.values.get_mut(i) {
                    *slot = value;
                }
            }
            Err(i) => {
                p.offsets.insert(i, offset);
                p.values.insert(i, value);
                self.len += 1;
            }
        }
    }

    /// Removes the row of `id`, returning it.
    pub(crate) fn remove(&mut self, id: u32) -> Option<T> {
        let (page, i) = self.find(id)?;
        let p = self.pages.get_mut(page)?;
        p.offsets.remove(i);
        let value = p.values.remove(i);
        if p.values.len() * 4 < p.values.capacity() {
            p.offsets.shrink_to_fit();
            p.values.shrink_to_fit();
        }
        self.len -= 1;
        Some(value)
    }

    /// Heap bytes held, approximately.
    pub(crate) fn heap_bytes(&self) -> usize {
        let size = std::mem::size_of::<T>();
        let rows: usize = self
            .pages
            .iter()
            .map(|p| p.offsets.capacity() + p.values.capacity() * size)
            .sum();
        rows + self.pages.capacity() * std::mem::size_of::<Page<T>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map() {
        let mut p = Pages::default();
        let mut m = std::collections::BTreeMap::new();
        let mut x = 1u32;
        for step in 0..20_000u32 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let id = if step % 3 == 0 { x % 5_000 } else { step };
            if x & 3 == 0 {
                assert_eq!(p.remove(id), m.remove(&id));
            } else {
                p.insert(id, step);
                m.insert(id, step);
            }
        }
        assert_eq!(p.len, m.len());
        for id in 0..21_000 {
            assert_eq!(p.get(id), m.get(&id), "{id}");
            assert_eq!(p.contains(id), m.contains_key(&id));
        }
    }
}
