//! Wrappers of the scripts on a reaper partition's slot (`{reaper:n}`):
//! `reaper_mark.lua`, `reaper_reschedule.lua`, `reaper_due.lua` (docs/DESIGN.md "Reaper").

use super::{ScriptCall, Scripts, call};

impl Scripts {
    /// `reaper_mark.lua`: room `live_id` due in its partition by now + `timeout_ms`
    /// (or 1 ms earlier than it already was); yields the score written (ms).
    pub(crate) fn reaper_mark(
        &self,
        due: &str,
        live_id: &str,
        timeout_ms: u64,
    ) -> ScriptCall<'_, i64> {
        let mut c = call("reaper_mark", None, &self.reaper_mark);
        c.invocation.key(due).arg(live_id).arg(timeout_ms);
        c
    }

    /// `reaper_reschedule.lua`: compare-and-set of a room's next visit; `listed` is
    /// the score the sweep listed (`None`: not in the index), `next` the next visit
    /// in ms (`None`: remove). Yields whether it wrote.
    pub(crate) fn reaper_reschedule(
        &self,
        due: &str,
        live_id: &str,
        listed: Option<&str>,
        next: Option<i64>,
    ) -> ScriptCall<'_, bool> {
        let mut c = call("reaper_reschedule", None, &self.reaper_reschedule);
        c.invocation
            .key(due)
            .arg(live_id)
            .arg(listed.unwrap_or(""))
            .arg(next.map(|n| n.to_string()).unwrap_or_default());
        c
    }

    /// `reaper_due.lua`: `count` due rooms from rank `offset` with a score up to
    /// `until_ms` (`None`: the node's now): `[now_ms, until_ms, live_id, score, …]`.
    pub(crate) fn reaper_due(
        &self,
        due: &str,
        until_ms: Option<i64>,
        offset: usize,
        count: usize,
    ) -> ScriptCall<'_, Vec<String>> {
        let mut c = call("reaper_due", None, &self.reaper_due);
        c.invocation
            .key(due)
            .arg(until_ms.map(|n| n.to_string()).unwrap_or_default())
            .arg(offset)
            .arg(count);
        c
    }
}
