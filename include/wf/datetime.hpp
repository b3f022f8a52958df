// ISO 8601 dates and times as wf reads and writes them (params, --at/--from/--now, the fmt
// filter). Everything is UTC inside wf: an offset is converted, a naive time is UTC, a date
// alone is midnight UTC. Time zones by name belong to the cron/clock code, not here.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "wf/result.hpp"

namespace wf {

using UtcSeconds = std::chrono::sys_seconds;

// Accepts YYYY-MM-DD, YYYY-MM-DDTHH:MM, YYYY-MM-DDTHH:MM:SS (a space may replace the T),
// optional fractional seconds (dropped), and an optional Z or +HH:MM / -HH:MM / +HHMM offset.
// Validates ranges (month 1-12, real day of month incl. leap years, hour < 24, ...).
Result<UtcSeconds> parse_iso_datetime(std::string_view text);
// Only YYYY-MM-DD, validated.
Result<UtcSeconds> parse_iso_date(std::string_view text);

std::string format_iso_date(UtcSeconds t);      // "2024-01-31"
std::string format_iso_datetime(UtcSeconds t);  // "2024-01-31T09:05:00Z"
// strftime-style formatting in UTC (%Y %m %d %H %M %S %j %a %b %A %B %y %Z(->UTC) %s %%...).
std::string format_time(UtcSeconds t, std::string_view pattern);

}  // namespace wf
