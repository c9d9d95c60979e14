//! Sorting for the short lists a loader keeps (maps, pins, interfaces,
//! variants, rules of a map of 1,024 at most). Each element type sorted by
//! std's `sort`/`sort_unstable` brings its own copy of their quicksort,
//! small-sort and heapsort into the binary: 2 to 4 KiB each on a phone (the
//! eight the runtime and the filter template used were 19 KiB of the
//! android-arm64 loader). An insertion sort is a few dozen bytes per type
//! and fast enough for lists this long.

/// Sorts `items` in place, stable, `before(a, b)` true when `a` goes first.
pub fn sort_short_by<T>(items: &mut [T], mut before: impl FnMut(&T, &T) -> bool) {
    for end in 1..items.len() {
        let mut at = end;
        while at > 0 && before(&items[at], &items[at - 1]) {
            items.swap(at, at - 1);
            at -= 1;
        }
    }
}

/// Sorts `items` in place by their order, stable.
pub fn sort_short<T: Ord>(items: &mut [T]) {
    sort_short_by(items, |a, b| a < b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_std_and_keeps_equal_items_in_order() {
        let mut seed = 7u32;
        for len in [0, 1, 2, 3, 10, 200] {
            let mut items: Vec<(u8, u32)> = (0..len)
                .map(|i| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    ((seed >> 24) as u8 % 5, i)
                })
                .collect();
            let mut expected = items.clone();
            expected.sort_by_key(|item| item.0);
            sort_short_by(&mut items, |a, b| a.0 < b.0);
            assert_eq!(items, expected, "len {len}");
        }
        let mut words = vec!["wlan0", "eth0", "rmnet_data0", "eth0"];
        sort_short(&mut words);
        assert_eq!(words, ["eth0", "eth0", "rmnet_data0", "wlan0"]);
    }
}
