// Cron schedules (FORMAT §4): parsing of 5-field expressions with an optional 6th year
// field, names, ranges, lists, steps and @aliases, and the next/previous fire times of a
// schedule in its own IANA time zone with the DST rules of §4. Times are UTC minutes
// (std::chrono::sys_seconds truncated to the minute); zones come from the system tz
// database through libhowardhinnant-date.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wf/result.hpp"

namespace wf {

using UtcMinute = std::chrono::sys_seconds;  // always a whole minute

class CronExpr {
 public:
  // Errors name the field and the bad value, e.g.
  // "invalid cron expression '0 99 * * *': hour value 99 is out of range (0-23)".
  static Result<CronExpr> parse(std::string_view text);

  const std::string& text() const { return text_; }
  // True when a local wall-clock minute matches (day-of-month/day-of-week OR semantics
  // when both are restricted; a field starting with '*' counts as unrestricted).
  bool matches_local(int year, unsigned month, unsigned day, unsigned weekday /*0=Sun*/, unsigned hour,
                     unsigned minute) const;
  bool hour_is_wildcard() const { return hour_star_; }
  // False for expressions that can never fire (e.g. "0 0 30 2 *").
  bool can_ever_fire() const;

  // The calendar part of matches_local: the year and month fields and the day rule.
  bool matches_day(int year, unsigned month, unsigned day, unsigned weekday /*0=Sun*/) const;
  // Whether any day of this month can match (year and month fields only); lets a search
  // skip whole months.
  bool matches_month(int year, unsigned month) const;
  std::uint32_t hour_bits() const { return hours_; }      // bit h: hour h matches
  std::uint64_t minute_bits() const { return minutes_; }  // bit m: minute m matches
  // The first and last year the year field allows; nothing when there is no year field
  // (or it is `*`).
  std::optional<int> first_year() const;
  std::optional<int> last_year() const;

 private:
  std::string text_;
  std::uint64_t minutes_ = 0;   // bit i: minute i
  std::uint32_t hours_ = 0;
  std::uint32_t days_ = 0;      // bit d: day d (1-31)
  std::uint16_t months_ = 0;    // bit m: month m (1-12)
  std::uint8_t weekdays_ = 0;   // bit w: 0=Sunday..6
  std::vector<bool> years_;     // empty: any year; else index = year - 1970
  bool dom_star_ = true;
  bool dow_star_ = true;
  bool hour_star_ = true;
};

// A cron expression bound to a time zone.
class CronSchedule {
 public:
  // `tz` is an IANA name ("Europe/Paris"); empty means UTC. Unknown zones are an error
  // naming the zone.
  static Result<CronSchedule> make(std::string_view cron, std::string_view tz);

  // The first fire time at or after `from` (UTC, any second: rounded up to the minute), or
  // nothing if it never fires again (searches at most ~5 years ahead, or to the year field's end).
  std::optional<UtcMinute> next(std::chrono::sys_seconds from) const;
  // The last fire time at or before `at` (rounded down to the minute).
  std::optional<UtcMinute> prev(std::chrono::sys_seconds at) const;
  // Whether `minute` (UTC) is a fire time.
  bool fires_at(UtcMinute minute) const;

  const CronExpr& expr() const { return expr_; }
  const std::string& tz_name() const { return tz_; }
  // "2024-03-31 03:00 CEST (+02:00)" style text of a UTC minute in the schedule's zone.
  std::string local_text(UtcMinute minute) const;

 private:
  CronExpr expr_;
  std::string tz_;
  const void* zone_ = nullptr;  // const date::time_zone*, kept opaque to keep date.h out of headers
};

}  // namespace wf
