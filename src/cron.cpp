// The only includer of <date/tz.h>. Parsing fills one bitset per field; the search walks
// local calendar days (skipping months the fields rule out) and maps each matching local
// minute to UTC with the zone's rules, which is where the DST policy of FORMAT §4 lives.

// Match the flags the Debian build of libdate-tz was compiled with (its CMake target
// date::date-tz adds the same ones), so this file also builds with a bare `-ldate-tz`.
#ifndef USE_OS_TZDB
#define USE_OS_TZDB 1
#endif
#ifndef ONLY_C_LOCALE
#define ONLY_C_LOCALE 1
#endif

#include "wf/cron.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdio>
#include <exception>

namespace wf {

namespace chr = std::chrono;

namespace {

// ---------------------------------------------------------------------------------------
// Parsing

enum class Names { none, months, weekdays };

struct Field {
  const char* name;
  int lo;
  int hi;       // largest value accepted (7 for day-of-week: Sunday again)
  int open_hi;  // where `*` and `a/n` end (6 for day-of-week)
  Names names;
  int max_step() const { return open_hi - lo + 1; }
};

constexpr int kMinYear = 1970;
constexpr int kMaxYear = 2199;

constexpr std::array<Field, 6> kFields = {{
    {"minute", 0, 59, 59, Names::none},
    {"hour", 0, 23, 23, Names::none},
    {"day-of-month", 1, 31, 31, Names::none},
    {"month", 1, 12, 12, Names::months},
    {"day-of-week", 0, 7, 6, Names::weekdays},
    {"year", kMinYear, kMaxYear, kMaxYear, Names::none},
}};

constexpr std::array<const char*, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 7> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// Bit (value - field.lo) is set for every value the field allows.
using Bits = std::bitset<kMaxYear - kMinYear + 1>;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string single_quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// A name's value, or nothing when `tok` is not a name of this field.
std::optional<int> name_value(std::string_view tok, const Field& f) {
  const std::string u = upper(tok);
  if (f.names == Names::months) {
    for (std::size_t i = 0; i < kMonthNames.size(); ++i)
      if (u == kMonthNames[i]) return static_cast<int>(i) + 1;
  } else if (f.names == Names::weekdays) {
    for (std::size_t i = 0; i < kDayNames.size(); ++i)
      if (u == kDayNames[i]) return static_cast<int>(i);
  }
  return std::nullopt;
}

Result<int> parse_value(std::string_view tok, const Field& f) {
  const std::string out_of_range = std::string(f.name) + " value " + std::string(tok) + " is out of range (" +
                                   std::to_string(f.lo) + "-" + std::to_string(f.hi) + ")";
  if (all_digits(tok)) {
    if (tok.size() > 6) return Error(out_of_range);
    const int v = std::stoi(std::string(tok));
    if (v < f.lo || v > f.hi) return Error(out_of_range);
    return v;
  }
  if (auto v = name_value(tok, f)) return *v;
  std::string msg = std::string(f.name) + " value " + single_quoted(tok) + " is not a number";
  if (f.names == Names::months) msg += " or month name (JAN-DEC)";
  if (f.names == Names::weekdays) msg += " or day name (SUN-SAT)";
  return Error(std::move(msg));
}

// One list item: `*`, `a`, `a-b`, each optionally `/step` (`a/n` runs from a to the end).
Result<void> add_item(std::string_view item, const Field& f, Bits& bits) {
  const std::string name = f.name;
  const auto malformed = [&] { return Error(name + " item " + single_quoted(item) + " is malformed"); };
  const auto slash = item.find('/');
  const std::string_view base = item.substr(0, slash);
  if (base.empty()) return malformed();

  int a = f.lo;
  int b = f.open_hi;
  if (base != "*") {
    const auto dash = base.find('-');
    if (dash == std::string_view::npos) {
      auto v = parse_value(base, f);
      if (!v.ok()) return v.error();
      a = *v;
      b = slash == std::string_view::npos ? a : std::max(a, f.open_hi);
    } else {
      const std::string_view lhs = base.substr(0, dash);
      const std::string_view rhs = base.substr(dash + 1);
      if (lhs.empty() || rhs.empty() || rhs.find('-') != std::string_view::npos) return malformed();
      auto va = parse_value(lhs, f);
      if (!va.ok()) return va.error();
      auto vb = parse_value(rhs, f);
      if (!vb.ok()) return vb.error();
      a = *va;
      b = *vb;
      // FRI-SUN reads as Friday to Sunday: a range ending in the name SUN ends at 7.
      if (f.names == Names::weekdays && b == 0 && a > 0 && !all_digits(rhs)) b = 7;
      if (a > b) return Error(name + " range " + std::string(base) + " is reversed");
    }
  }

  int step = 1;
  if (slash != std::string_view::npos) {
    const std::string_view st = item.substr(slash + 1);
    if (st.empty()) return Error(name + " step is missing in " + single_quoted(item));
    if (!all_digits(st)) return Error(name + " step " + single_quoted(st) + " is not a number");
    step = st.size() > 6 ? f.max_step() + 1 : std::stoi(std::string(st));
    if (step < 1 || step > f.max_step())
      return Error(name + " step " + std::string(st) + " is out of range (1-" + std::to_string(f.max_step()) + ")");
  }
  for (int v = a; v <= b; v += step) bits.set(static_cast<std::size_t>(v - f.lo));
  return ok();
}

Result<Bits> parse_field(std::string_view text, const Field& f) {
  Bits bits;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const std::string_view item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    if (item.empty()) return Error(std::string(f.name) + " list " + single_quoted(text) + " has an empty item");
    if (auto r = add_item(item, f, bits); !r.ok()) return r.error();
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return bits;
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::optional<std::string_view> expand_alias(std::string_view alias) {
  static constexpr std::array<std::pair<const char*, const char*>, 7> kAliases = {{
      {"@YEARLY", "0 0 1 1 *"},
      {"@ANNUALLY", "0 0 1 1 *"},
      {"@MONTHLY", "0 0 1 * *"},
      {"@WEEKLY", "0 0 * * 0"},
      {"@DAILY", "0 0 * * *"},
      {"@MIDNIGHT", "0 0 * * *"},
      {"@HOURLY", "0 * * * *"},
  }};
  const std::string u = upper(alias);
  for (const auto& [name, expansion] : kAliases)
    if (u == name) return std::string_view(expansion);
  return std::nullopt;
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int y, unsigned m) {
  static constexpr std::array<unsigned, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// 0 = Sunday (Sakamoto's method; proleptic Gregorian).
unsigned weekday_of(int y, unsigned m, unsigned d) {
  static constexpr std::array<int, 12> kT = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
  if (m < 3) y -= 1;
  const int w = (y + y / 4 - y / 100 + y / 400 + kT[m - 1] + static_cast<int>(d)) % 7;
  return static_cast<unsigned>(w < 0 ? w + 7 : w);
}

// ---------------------------------------------------------------------------------------
// Searching

// How far next()/prev() look when there is no year field: long enough that a Feb-29
// schedule always finds its next leap day, even across 2100 (2096 -> 2104).
constexpr date::days kSearchSpan{8 * 366 + 2};

const date::time_zone* zone_of(const void* p) { return static_cast<const date::time_zone*>(p); }

chr::sys_seconds to_sys(date::local_seconds l, chr::seconds offset) {
  return chr::sys_seconds{l.time_since_epoch() - offset};
}

// The fire times contributed by the local calendar day `d`, ascending. `shifted` is set
// when the day does not run at one UTC offset from midnight to midnight; fire times of
// such a day can interleave with those of its neighbours.
struct DayFires {
  std::vector<chr::sys_seconds> times;
  bool shifted = false;
};

void collect_day(const CronExpr& e, const date::time_zone* z, date::local_days d, DayFires& out) {
  out.times.clear();
  out.shifted = false;
  const date::year_month_day ymd{d};
  const unsigned wd = date::weekday{d}.c_encoding();
  if (!e.matches_day(static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()), wd))
    return;

  const date::local_seconds midnight{d};
  const auto at_start = z->get_info(midnight);
  const auto at_end = z->get_info(midnight + date::days{1});
  out.shifted = !(at_start.result == date::local_info::unique && at_end.result == date::local_info::unique &&
                  at_start.first.begin == at_end.first.begin);
  const bool hour_star = e.hour_is_wildcard();

  for (unsigned h = 0; h < 24; ++h) {
    if (!(e.hour_bits() >> h & 1U)) continue;
    for (unsigned m = 0; m < 60; ++m) {
      if (!(e.minute_bits() >> m & 1ULL)) continue;
      const date::local_seconds l = midnight + chr::hours{h} + chr::minutes{m};
      if (!out.shifted) {
        out.times.push_back(to_sys(l, at_start.first.offset));
        continue;
      }
      const auto info = z->get_info(l);
      switch (info.result) {
        case date::local_info::unique:
          out.times.push_back(to_sys(l, info.first.offset));
          break;
        case date::local_info::nonexistent:
          // Skipped by the change: once, at the first minute after the gap; a `*` hour
          // field means the minute simply does not exist.
          if (!hour_star) out.times.push_back(chr::ceil<chr::minutes>(info.second.begin));
          break;
        case date::local_info::ambiguous:
          out.times.push_back(to_sys(l, info.first.offset));  // the first occurrence
          if (hour_star) out.times.push_back(to_sys(l, info.second.offset));
          break;
      }
    }
  }
  if (out.shifted) {
    std::sort(out.times.begin(), out.times.end());
    out.times.erase(std::unique(out.times.begin(), out.times.end()), out.times.end());
  }
}

date::local_days local_day(const date::time_zone* z, chr::sys_seconds t) {
  return date::floor<date::days>(z->to_local(t));
}

// Calls `visit(day)` for each local day from `from` to `to` (inclusive; backwards when
// `from` is later) that the expression's calendar fields allow, until `visit` returns true.
// Pure integer arithmetic: months and years the fields rule out cost one check each.
template <class Visit>
void walk_days(const CronExpr& e, date::year_month_day from, date::year_month_day to, Visit visit) {
  const bool forward = from <= to;
  int y = static_cast<int>(from.year());
  unsigned m = static_cast<unsigned>(from.month());
  unsigned d = static_cast<unsigned>(from.day());
  const int to_y = static_cast<int>(to.year());
  const unsigned to_m = static_cast<unsigned>(to.month());
  // Jump straight to the year field's range ("0 0 1 1 * 2150" searched from today).
  if (auto fy = e.first_year(); forward && fy && y < *fy) y = *fy, m = 1, d = 1;
  if (auto ly = e.last_year(); !forward && ly && y > *ly) y = *ly, m = 12, d = 31;
  while (forward ? (y < to_y || (y == to_y && m <= to_m)) : (y > to_y || (y == to_y && m >= to_m))) {
    if (e.matches_month(y, m)) {
      const bool last_month = y == to_y && m == to_m;
      const unsigned dim = days_in_month(y, m);
      const unsigned end = last_month ? static_cast<unsigned>(to.day()) : (forward ? dim : 1);
      d = std::min(d, dim);
      for (unsigned wd = weekday_of(y, m, d);; wd = forward ? (wd + 1) % 7 : (wd + 6) % 7) {
        if (forward ? d > end : d < end) break;
        if (e.matches_day(y, m, d, wd) && visit(date::local_days{date::year{y} / date::month{m} / date::day{d}}))
          return;
        if (forward) ++d;
        else if (d-- == 1) break;
      }
    }
    if (forward) {
      d = 1;
      if (++m == 13) m = 1, ++y;
    } else {
      d = 31;
      if (--m == 0) m = 12, --y;
    }
  }
}

std::string two_digits(long v) {
  std::array<char, 24> buf{};
  std::snprintf(buf.data(), buf.size(), "%02ld", v);
  return buf.data();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// CronExpr

Result<CronExpr> CronExpr::parse(std::string_view text) {
  const std::string_view given = trim(text);
  const auto fail = [&](const std::string& why) {
    return Error("invalid cron expression " + single_quoted(given) + ": " + why);
  };
  if (given.empty()) return fail("the expression is empty");

  std::string_view body = given;
  const auto words = split_fields(given);
  if (given.front() == '@') {
    if (words.size() != 1) return fail("alias " + single_quoted(words.front()) + " must stand alone");
    auto expansion = expand_alias(given);
    if (!expansion)
      return fail("unknown alias " + single_quoted(given) +
                  " (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)");
    body = *expansion;
  }
  const auto fields = split_fields(body);
  if (fields.size() != 5 && fields.size() != 6)
    return fail("expected 5 or 6 fields (minute hour day-of-month month day-of-week [year]), got " +
                std::to_string(fields.size()));

  std::array<Bits, 6> bits{};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    auto r = parse_field(fields[i], kFields[i]);
    if (!r.ok()) return fail(r.error().message);
    bits[i] = *r;
  }

  CronExpr e;
  e.text_ = std::string(given);
  for (unsigned m = 0; m < 60; ++m)
    if (bits[0][m]) e.minutes_ |= 1ULL << m;
  for (unsigned h = 0; h < 24; ++h)
    if (bits[1][h]) e.hours_ |= 1U << h;
  for (unsigned d = 1; d <= 31; ++d)
    if (bits[2][d - 1]) e.days_ |= 1U << d;
  for (unsigned m = 1; m <= 12; ++m)
    if (bits[3][m - 1]) e.months_ |= static_cast<std::uint16_t>(1U << m);
  for (unsigned w = 0; w <= 7; ++w)
    if (bits[4][w]) e.weekdays_ |= static_cast<std::uint8_t>(1U << (w % 7));  // 7 is Sunday
  if (fields.size() == 6 && fields[5] != "*") {
    e.years_.resize(kMaxYear - kMinYear + 1);
    for (std::size_t i = 0; i < e.years_.size(); ++i) e.years_[i] = bits[5][i];
  }
  // Standard cron: a field written starting with '*' (`*`, `*/2`) is "unrestricted".
  e.hour_star_ = fields[1].front() == '*';
  e.dom_star_ = fields[2].front() == '*';
  e.dow_star_ = fields[4].front() == '*';
  return e;
}

bool CronExpr::matches_month(int year, unsigned month) const {
  if (month < 1 || month > 12 || !(months_ >> month & 1U)) return false;
  if (years_.empty()) return true;
  return year >= kMinYear && year <= kMaxYear && years_[static_cast<std::size_t>(year - kMinYear)];
}

bool CronExpr::matches_day(int year, unsigned month, unsigned day, unsigned weekday) const {
  if (!matches_month(year, month) || day < 1 || day > 31 || weekday > 7) return false;
  const bool dom = days_ >> day & 1U;
  const bool dow = weekdays_ >> (weekday % 7) & 1U;
  return dom_star_ || dow_star_ ? dom && dow : dom || dow;
}

bool CronExpr::matches_local(int year, unsigned month, unsigned day, unsigned weekday, unsigned hour,
                             unsigned minute) const {
  return hour < 24 && minute < 60 && (hours_ >> hour & 1U) && (minutes_ >> minute & 1ULL) &&
         matches_day(year, month, day, weekday);
}

std::optional<int> CronExpr::first_year() const {
  for (std::size_t i = 0; i < years_.size(); ++i)
    if (years_[i]) return kMinYear + static_cast<int>(i);
  return std::nullopt;
}

std::optional<int> CronExpr::last_year() const {
  for (std::size_t i = years_.size(); i-- > 0;)
    if (years_[i]) return kMinYear + static_cast<int>(i);
  return std::nullopt;
}

// Clock-free: a year field lying wholly in the past still "can fire" (it did); next() is
// what says it never fires again. Without a year field, 2000-2027 covers every calendar
// layout (weekday of Jan 1 x leap year) that matters.
bool CronExpr::can_ever_fire() const {
  const int from = years_.empty() ? 2000 : *first_year();
  const int to = years_.empty() ? 2027 : *last_year();
  for (int y = from; y <= to; ++y)
    for (unsigned m = 1; m <= 12; ++m) {
      if (!matches_month(y, m)) continue;
      for (unsigned d = 1; d <= days_in_month(y, m); ++d)
        if (matches_day(y, m, d, weekday_of(y, m, d))) return true;
    }
  return false;
}

// ---------------------------------------------------------------------------------------
// CronSchedule

Result<CronSchedule> CronSchedule::make(std::string_view cron, std::string_view tz) {
  auto expr = CronExpr::parse(cron);
  if (!expr.ok()) return expr.error();
  CronSchedule s;
  s.expr_ = std::move(*expr);
  s.tz_ = tz.empty() ? "UTC" : std::string(tz);
  try {
    s.zone_ = date::locate_zone(s.tz_);
  } catch (const std::exception&) {
    return Error("unknown time zone " + single_quoted(s.tz_));
  }
  return s;
}

std::optional<UtcMinute> CronSchedule::next(chr::sys_seconds from) const {
  const auto* z = zone_of(zone_);
  const chr::sys_seconds start = chr::ceil<chr::minutes>(from);
  // A day's fire times can reach into the next day (a gap at midnight, a repeated hour),
  // so start one local day early.
  const date::local_days first = local_day(z, start) - date::days{1};
  date::year_month_day last{first + kSearchSpan};
  if (auto y = expr_.last_year()) last = date::year{*y} / 12 / 31;

  std::optional<UtcMinute> found;
  DayFires day;
  walk_days(expr_, date::year_month_day{first}, last, [&](date::local_days d) {
    collect_day(expr_, z, d, day);
    const auto it = std::lower_bound(day.times.begin(), day.times.end(), start);
    if (it == day.times.end()) return false;
    found = *it;
    if (day.shifted) {  // the next day's first fire times may come earlier in UTC
      collect_day(expr_, z, d + date::days{1}, day);
      const auto a = std::lower_bound(day.times.begin(), day.times.end(), start);
      if (a != day.times.end()) found = std::min(*found, *a);
    }
    return true;
  });
  return found;
}

std::optional<UtcMinute> CronSchedule::prev(chr::sys_seconds at) const {
  const auto* z = zone_of(zone_);
  const chr::sys_seconds end = chr::floor<chr::minutes>(at);
  const date::local_days first = local_day(z, end) + date::days{1};
  date::year_month_day last{first - kSearchSpan};
  if (auto y = expr_.first_year()) last = date::year{*y} / 1 / 1;

  const auto last_at_or_before = [&](const DayFires& f) -> std::optional<UtcMinute> {
    const auto it = std::upper_bound(f.times.begin(), f.times.end(), end);
    if (it == f.times.begin()) return std::nullopt;
    return *std::prev(it);
  };
  std::optional<UtcMinute> found;
  DayFires day;
  walk_days(expr_, date::year_month_day{first}, last, [&](date::local_days d) {
    collect_day(expr_, z, d, day);
    found = last_at_or_before(day);
    if (!found) return false;
    if (day.shifted) {  // the previous day's last fire times may come later in UTC
      collect_day(expr_, z, d - date::days{1}, day);
      if (auto b = last_at_or_before(day)) found = std::max(*found, *b);
    }
    return true;
  });
  return found;
}

bool CronSchedule::fires_at(UtcMinute minute) const {
  const auto* z = zone_of(zone_);
  const chr::sys_seconds t = chr::floor<chr::minutes>(minute);
  const date::sys_info info = z->get_info(t);
  const date::local_seconds l{t.time_since_epoch() + info.offset};
  const bool hour_star = expr_.hour_is_wildcard();

  const auto matches = [&](date::local_seconds when) {
    const auto day = date::floor<date::days>(when);
    const date::year_month_day ymd{day};
    const date::hh_mm_ss hms{when - day};
    return expr_.matches_local(static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                               static_cast<unsigned>(ymd.day()), date::weekday{day}.c_encoding(),
                               static_cast<unsigned>(hms.hours().count()),
                               static_cast<unsigned>(hms.minutes().count()));
  };

  if (matches(l)) {
    if (hour_star) return true;
    const auto li = z->get_info(l);
    // A repeated local time fires on its first occurrence only.
    if (li.result != date::local_info::ambiguous || t == to_sys(l, li.first.offset)) return true;
  }
  // The first minute after a gap fires for the skipped local minutes that match.
  if (!hour_star && chr::ceil<chr::minutes>(info.begin) == t) {
    const date::sys_info before = z->get_info(info.begin - chr::seconds{1});
    const date::local_seconds gap_end{info.begin.time_since_epoch() + info.offset};
    for (auto g = chr::ceil<chr::minutes>(date::local_seconds{info.begin.time_since_epoch() + before.offset});
         g < gap_end; g += chr::minutes{1})
      if (matches(g)) return true;
  }
  return false;
}

std::string CronSchedule::local_text(UtcMinute minute) const {
  const auto* z = zone_of(zone_);
  const date::sys_info info = z->get_info(minute);
  const date::local_seconds l{minute.time_since_epoch() + info.offset};
  const auto day = date::floor<date::days>(l);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss hms{l - day};
  const long off = static_cast<long>(info.offset.count()) / 60;
  const long abs_off = off < 0 ? -off : off;
  return std::to_string(static_cast<int>(ymd.year())) + "-" + two_digits(static_cast<unsigned>(ymd.month())) + "-" +
         two_digits(static_cast<unsigned>(ymd.day())) + " " + two_digits(hms.hours().count()) + ":" +
         two_digits(hms.minutes().count()) + " " + info.abbrev + " (" + (off < 0 ? "-" : "+") +
         two_digits(abs_off / 60) + ":" + two_digits(abs_off % 60) + ")";
}

}  // namespace wf
