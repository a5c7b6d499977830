-- reaper_single.lua: prepended (after lib.lua, lib_single.lua) to the one-Redis
-- scripts that make members present, join_room.lua and start_room.lua: there the
-- reaper's deadline index is marked in the same atomic script (lib.lua, reaper_due).
REAPER_INDEX = true
