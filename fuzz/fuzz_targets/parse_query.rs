//! Fuzz target: query strings. Any bytes are decoded as the service decodes a
//! query (`application/x-www-form-urlencoded`, lossy UTF-8) into `QueryParams`, then
//! go through pagination, the `live_id` check and the search-term functions.
//! Whatever is accepted must satisfy SPEC §5 / §7, and a cursor must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveroom::extract::{Page, PageStart, QueryParams, check_live_id, encode_cursor};

fuzz_target!(|data: &[u8]| {
    let query = QueryParams(form_urlencoded::parse(data).into_owned().collect());

    match Page::parse(&query) {
        Ok(page) => {
            assert!((1..=100).contains(&page.size));
            match &page.start {
                PageStart::Number(n) => assert!((1..=1_000_000).contains(n)),
                PageStart::After { score, id } => {
                    assert!(score.is_finite());
                    assert!(!id.is_empty() && id.len() <= 64);
                    assert!(id.bytes().all(|b| b.is_ascii_graphic()));
                    // The cursor of this position reads back as the same position.
                    let again = QueryParams(vec![("cursor".into(), encode_cursor(*score, id))]);
                    assert_eq!(Page::parse(&again).unwrap().start, page.start);
                }
            }
            let _ = page.offset();
            let mut entries: Vec<(String, f64)> = (0..=page.size)
                .map(|i| (format!("live_{i}"), i as f64))
                .collect();
            let probe = page.probe();
            entries.truncate(probe.size as usize);
            let _ = page.next_cursor(&mut entries);
            assert!(entries.len() as u64 <= page.size);
        }
        Err(e) => assert!(e.code() == 40000 && !e.to_string().is_empty()),
    }

    if let Some(id) = query.get("live_id")
        && check_live_id(id).is_ok()
    {
        assert!(!id.is_empty() && id.len() <= 64);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
    }

    if let Some(keyword) = query.get("keyword") {
        let lower = keyword.trim().to_lowercase();
        let terms = liveroom::search::keyword_terms(&lower);
        // A title that contains the keyword holds every term of it.
        if !lower.is_empty() {
            let title = format!("x{lower}y");
            assert!(terms.is_subset(&liveroom::search::title_terms(&title)));
        }
    }
});
