#include "wf/datetime.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <optional>

namespace wf {

namespace chr = std::chrono;

namespace {

// A cursor over the text being parsed; every read is bounds-checked.
struct Scanner {
  std::string_view text;
  std::size_t at = 0;

  bool done() const { return at >= text.size(); }
  char peek() const { return done() ? '\0' : text[at]; }
  bool eat(char c) {
    if (peek() != c || done()) return false;
    ++at;
    return true;
  }
  // Exactly `n` ASCII digits as a number, or nullopt (cursor unchanged).
  std::optional<int> digits(std::size_t n) {
    if (text.size() - at < n) return std::nullopt;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const char c = text[at + i];
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    at += n;
    return v;
  }
};

std::string two(unsigned v) {
  std::array<char, 8> buf{};
  std::snprintf(buf.data(), buf.size(), "%02u", v % 100);
  return buf.data();
}

Error date_error(std::string_view kind, std::string_view text, std::string_view reason) {
  std::string msg = "invalid ";
  msg += kind;
  msg += " \"";
  msg += text;
  msg += "\": ";
  msg += reason;
  return Error(std::move(msg));
}

// Reads YYYY-MM-DD at the cursor and checks it is a real calendar day.
Result<chr::sys_days> scan_date(Scanner& s, std::string_view kind) {
  const auto y = s.digits(4);
  if (!y || !s.eat('-')) return date_error(kind, s.text, "expected YYYY-MM-DD");
  const auto m = s.digits(2);
  if (!m || !s.eat('-')) return date_error(kind, s.text, "expected YYYY-MM-DD");
  const auto d = s.digits(2);
  if (!d) return date_error(kind, s.text, "expected YYYY-MM-DD");
  if (*m < 1 || *m > 12)
    return date_error(kind, s.text, "month " + two(static_cast<unsigned>(*m)) + " is out of range (01-12)");
  const chr::year_month_day ymd{chr::year{*y}, chr::month{static_cast<unsigned>(*m)},
                                chr::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) {
    std::array<char, 16> ym{};
    std::snprintf(ym.data(), ym.size(), "%04d-%02d", *y, *m);
    return date_error(kind, s.text,
                      "day " + two(static_cast<unsigned>(*d)) + " does not exist in " + ym.data());
  }
  return chr::sys_days{ymd};
}

std::string trailing(const Scanner& s) {
  return "unexpected \"" + std::string(s.text.substr(s.at)) + "\" at position " +
         std::to_string(s.at + 1);
}

}  // namespace

Result<UtcSeconds> parse_iso_date(std::string_view text) {
  Scanner s{text};
  auto day = scan_date(s, "date");
  if (!day) return day.error();
  if (!s.done()) return date_error("date", text, "expected YYYY-MM-DD, " + trailing(s));
  return UtcSeconds{*day};
}

Result<UtcSeconds> parse_iso_datetime(std::string_view text) {
  constexpr std::string_view kKind = "datetime";
  Scanner s{text};
  auto day = scan_date(s, kKind);
  if (!day) return day.error();
  UtcSeconds t{*day};
  if (s.done()) return t;
  if (!s.eat('T') && !s.eat(' ')) return date_error(kKind, text, trailing(s));

  const auto hh = s.digits(2);
  if (!hh || !s.eat(':')) return date_error(kKind, text, "expected HH:MM after the date");
  const auto mm = s.digits(2);
  if (!mm) return date_error(kKind, text, "expected HH:MM after the date");
  int ss = 0;
  if (s.eat(':')) {
    const auto sec = s.digits(2);
    if (!sec) return date_error(kKind, text, "expected two digits of seconds after HH:MM:");
    ss = *sec;
    if (s.eat('.')) {  // fractional seconds: at least one digit, then dropped
      if (!s.digits(1)) return date_error(kKind, text, "expected digits after '.'");
      while (s.digits(1)) {
      }
    }
  }
  if (*hh > 23) return date_error(kKind, text, "hour " + two(*hh) + " is out of range (00-23)");
  if (*mm > 59) return date_error(kKind, text, "minute " + two(*mm) + " is out of range (00-59)");
  if (ss > 59) return date_error(kKind, text, "second " + two(ss) + " is out of range (00-59)");
  t += chr::hours{*hh} + chr::minutes{*mm} + chr::seconds{ss};

  if (s.eat('Z')) {
    // UTC, nothing to convert
  } else if (s.peek() == '+' || s.peek() == '-') {
    const int sign = s.peek() == '-' ? -1 : 1;
    s.eat(s.peek());
    const auto oh = s.digits(2);
    if (!oh) return date_error(kKind, text, "expected an offset like +HH:MM or +HHMM");
    s.eat(':');
    const auto om = s.digits(2);
    if (!om) return date_error(kKind, text, "expected an offset like +HH:MM or +HHMM");
    if (*oh > 23 || *om > 59) return date_error(kKind, text, "offset is out of range");
    // Local time = UTC + offset, so UTC = local - offset.
    t -= sign * (chr::hours{*oh} + chr::minutes{*om});
  }
  if (!s.done()) return date_error(kKind, text, trailing(s));
  return t;
}

namespace {

// Broken-down UTC time built from chrono, so no time_t or time zone is involved.
std::tm to_tm(UtcSeconds t) {
  const auto day = chr::floor<chr::days>(t);
  const chr::year_month_day ymd{day};
  const chr::hh_mm_ss hms{t - day};
  const chr::sys_days jan1{ymd.year() / chr::January / 1};
  std::tm tm{};
  tm.tm_year = static_cast<int>(ymd.year()) - 1900;
  tm.tm_mon = static_cast<int>(static_cast<unsigned>(ymd.month())) - 1;
  tm.tm_mday = static_cast<int>(static_cast<unsigned>(ymd.day()));
  tm.tm_hour = static_cast<int>(hms.hours().count());
  tm.tm_min = static_cast<int>(hms.minutes().count());
  tm.tm_sec = static_cast<int>(hms.seconds().count());
  tm.tm_wday = static_cast<int>(chr::weekday{day}.c_encoding());
  tm.tm_yday = static_cast<int>((day - jan1).count());
  tm.tm_isdst = 0;
#ifdef __USE_MISC
  tm.tm_gmtoff = 0;
  tm.tm_zone = "UTC";
#endif
  return tm;
}

// Rewrites the conversions strftime would get wrong for a UTC value: %Z (the C library
// names the zone of the process) and %s (glibc reads the tm as local time).
std::string utc_pattern(UtcSeconds t, std::string_view pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\0') continue;  // would end the C string strftime reads
    if (pattern[i] != '%') {
      out += pattern[i];
      continue;
    }
    std::size_t j = i + 1;
    while (j < pattern.size() && std::string_view("-_0^#EO").find(pattern[j]) != std::string_view::npos)
      ++j;
    while (j < pattern.size() && pattern[j] >= '0' && pattern[j] <= '9') ++j;
    if (j >= pattern.size()) {  // a lone trailing '%...' is printed as written
      out += "%%";
      out.append(pattern.substr(i + 1));
      break;
    }
    const char conv = pattern[j];
    if (conv == 'Z') {
      out += "UTC";
    } else if (conv == 's') {
      out += std::to_string(t.time_since_epoch().count());
    } else {
      out.append(pattern.substr(i, j - i + 1));
    }
    i = j;
  }
  return out;
}

}  // namespace

std::string format_iso_date(UtcSeconds t) {
  const chr::year_month_day ymd{chr::floor<chr::days>(t)};
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf.data();
}

std::string format_iso_datetime(UtcSeconds t) {
  const auto day = chr::floor<chr::days>(t);
  const chr::hh_mm_ss hms{t - day};
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "T%02d:%02d:%02dZ", static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return format_iso_date(t) + buf.data();
}

std::string format_time(UtcSeconds t, std::string_view pattern) {
  // A trailing sentinel makes a zero return from strftime always mean "buffer too small",
  // never "the result is empty".
  const std::string fmt = utc_pattern(t, pattern) + "x";
  const std::tm tm = to_tm(t);
  std::string buf(fmt.size() * 4 + 64, '\0');
  constexpr std::size_t kMax = 1 << 20;
  while (true) {
    const std::size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
    if (n > 0) {
      buf.resize(n - 1);  // drop the sentinel
      return buf;
    }
    if (buf.size() >= kMax) return {};
    buf.resize(buf.size() * 2);
  }
}

}  // namespace wf
