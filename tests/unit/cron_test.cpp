#include "wf/cron.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace chr = std::chrono;

namespace {

// "YYYY-MM-DD HH:MM[:SS]" read as UTC.
chr::sys_seconds utc(const char* text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  const int n = std::sscanf(text, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &s);
  REQUIRE_MESSAGE(n >= 5, std::string(text));
  const chr::sys_days day{chr::year{y} / chr::month{static_cast<unsigned>(mo)} / chr::day{static_cast<unsigned>(d)}};
  return day + chr::hours{h} + chr::minutes{mi} + chr::seconds{s};
}

std::string text(chr::sys_seconds t) {
  const auto day = chr::floor<chr::days>(t);
  const chr::year_month_day ymd{day};
  const chr::hh_mm_ss hms{t - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()));
  return buf;
}

std::string text(const std::optional<wf::UtcMinute>& t) { return t ? text(*t) : "never"; }

wf::CronSchedule schedule(const char* cron, const char* tz = "") {
  auto s = wf::CronSchedule::make(cron, tz);
  REQUIRE_MESSAGE(s.ok(), (std::string(cron) + " " + tz + ": " + (s.ok() ? "" : s.error().message)));
  return *s;
}

// The first `n` fire times at or after `from`, as UTC text.
std::vector<std::string> fires(const char* cron, const char* tz, const char* from, int n) {
  const auto s = schedule(cron, tz);
  std::vector<std::string> out;
  std::optional<wf::UtcMinute> t = s.next(utc(from));
  for (int i = 0; i < n && t; ++i) {
    out.push_back(text(*t));
    t = s.next(*t + chr::minutes{1});
  }
  return out;
}

wf::CronExpr expr(const char* cron) {
  auto e = wf::CronExpr::parse(cron);
  REQUIRE_MESSAGE(e.ok(), (std::string(cron) + ": " + (e.ok() ? "" : e.error().message)));
  return *e;
}

std::string parse_error(const char* cron) {
  auto e = wf::CronExpr::parse(cron);
  REQUIRE_MESSAGE(!e.ok(), std::string(cron));
  return e.error().message;
}

using Times = std::vector<std::string>;

struct Case {
  const char* cron;
  const char* tz;
  const char* from;
  Times expected;
};

std::string join(const Times& times) {
  std::string out;
  for (const auto& t : times) out += (out.empty() ? "" : ", ") + t;
  return out;
}

void check_cases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    const std::string what = std::string(c.cron) + " [" + c.tz + "] from " + c.from;
    CAPTURE(what);
    CHECK(join(fires(c.cron, c.tz, c.from, static_cast<int>(c.expected.size()))) == join(c.expected));
  }
}

}  // namespace

// 2024-01-01 is a Monday.
TEST_CASE("cron: every field form") {
  check_cases({
      {"* * * * *", "", "2024-01-01 00:00:30", {"2024-01-01 00:01", "2024-01-01 00:02", "2024-01-01 00:03"}},
      {"* * * * *", "", "2024-01-01 00:00", {"2024-01-01 00:00", "2024-01-01 00:01"}},
      {"5 * * * *", "", "2024-01-01 00:00", {"2024-01-01 00:05", "2024-01-01 01:05"}},
      {"*/15 * * * *", "", "2024-01-01 00:01", {"2024-01-01 00:15", "2024-01-01 00:30", "2024-01-01 00:45",
                                               "2024-01-01 01:00"}},
      {"10-12 * * * *", "", "2024-01-01 00:00", {"2024-01-01 00:10", "2024-01-01 00:11", "2024-01-01 00:12",
                                                "2024-01-01 01:10"}},
      {"10-20/5 * * * *", "", "2024-01-01 00:00", {"2024-01-01 00:10", "2024-01-01 00:15", "2024-01-01 00:20",
                                                  "2024-01-01 01:10"}},
      {"50/5 * * * *", "", "2024-01-01 00:00", {"2024-01-01 00:50", "2024-01-01 00:55", "2024-01-01 01:50"}},
      {"1,2,58 * * * *", "", "2024-01-01 00:00", {"2024-01-01 00:01", "2024-01-01 00:02", "2024-01-01 00:58",
                                                 "2024-01-01 01:01"}},
      {"0,30-31,45/10 * * * *", "", "2024-01-01 00:00", {"2024-01-01 00:00", "2024-01-01 00:30",
                                                        "2024-01-01 00:31", "2024-01-01 00:45",
                                                        "2024-01-01 00:55", "2024-01-01 01:00"}},
      {"0 */6 * * *", "", "2024-01-01 00:01", {"2024-01-01 06:00", "2024-01-01 12:00", "2024-01-01 18:00",
                                              "2024-01-02 00:00"}},
      {"0 0 10-12 * *", "", "2024-01-01 00:00", {"2024-01-10 00:00", "2024-01-11 00:00", "2024-01-12 00:00",
                                                "2024-02-10 00:00"}},
      {"0 0 31 * *", "", "2024-01-31 00:01", {"2024-03-31 00:00", "2024-05-31 00:00", "2024-07-31 00:00"}},
      {"0 0 1 */4 *", "", "2024-01-01 00:01", {"2024-05-01 00:00", "2024-09-01 00:00", "2025-01-01 00:00"}},
      {"0 0 1 jan-mar/2 *", "", "2024-01-01 00:00", {"2024-01-01 00:00", "2024-03-01 00:00", "2025-01-01 00:00"}},
      {"0 0 1 JAN,jul *", "", "2024-01-01 00:01", {"2024-07-01 00:00", "2025-01-01 00:00"}},
      {"0 9 * * 1-5", "", "2024-01-05 10:00", {"2024-01-08 09:00", "2024-01-09 09:00"}},
      {"0 9 * * MON-FRI", "", "2024-01-05 10:00", {"2024-01-08 09:00", "2024-01-09 09:00"}},
      {"0 9 * * mon,Wed", "", "2024-01-01 10:00", {"2024-01-03 09:00", "2024-01-08 09:00"}},
      {"0 0 * * 1/2", "", "2024-01-01 00:00", {"2024-01-01 00:00", "2024-01-03 00:00", "2024-01-05 00:00",
                                              "2024-01-08 00:00"}},
  });
}

TEST_CASE("cron: 7 is Sunday, also in ranges; FRI-SUN wraps to Sunday") {
  check_cases({
      {"0 0 * * 7", "", "2024-01-01 00:00", {"2024-01-07 00:00", "2024-01-14 00:00"}},
      {"0 0 * * 0", "", "2024-01-01 00:00", {"2024-01-07 00:00", "2024-01-14 00:00"}},
      {"0 0 * * sun", "", "2024-01-01 00:00", {"2024-01-07 00:00", "2024-01-14 00:00"}},
      {"0 0 * * 5-7", "", "2024-01-01 00:00", {"2024-01-05 00:00", "2024-01-06 00:00", "2024-01-07 00:00",
                                              "2024-01-12 00:00"}},
      {"0 0 * * FRI-SUN", "", "2024-01-01 00:00", {"2024-01-05 00:00", "2024-01-06 00:00", "2024-01-07 00:00",
                                                  "2024-01-12 00:00"}},
      {"0 0 * * 0-7", "", "2024-01-01 00:00", {"2024-01-01 00:00", "2024-01-02 00:00"}},
  });
  const auto e = expr("0 0 * * 7");
  CHECK(e.matches_local(2024, 1, 7, 0, 0, 0));
  CHECK_FALSE(e.matches_local(2024, 1, 6, 6, 0, 0));
}

TEST_CASE("cron: day-of-month and day-of-week are OR-ed when both are restricted") {
  check_cases({
      // 1st and 15th, plus every Wednesday.
      {"0 0 1,15 * 3", "", "2024-01-01 00:00", {"2024-01-01 00:00", "2024-01-03 00:00", "2024-01-10 00:00",
                                               "2024-01-15 00:00", "2024-01-17 00:00"}},
      {"0 0 13 * FRI", "", "2024-09-01 00:00", {"2024-09-06 00:00", "2024-09-13 00:00", "2024-09-20 00:00"}},
      // A field starting with '*' is unrestricted: the other one must also match (AND).
      {"0 0 */2 * 3", "", "2024-01-01 00:00", {"2024-01-03 00:00", "2024-01-17 00:00", "2024-01-31 00:00",
                                              "2024-02-07 00:00"}},
      {"0 0 1 * */2", "", "2024-01-01 00:00", {"2024-02-01 00:00", "2024-06-01 00:00", "2024-08-01 00:00"}},
      {"0 0 1 * *", "", "2024-01-01 00:01", {"2024-02-01 00:00"}},
      {"0 0 * * 3", "", "2024-01-01 00:00", {"2024-01-03 00:00", "2024-01-10 00:00"}},
  });
  const auto both = expr("0 0 1,15 * 3");
  CHECK(both.matches_day(2024, 1, 1, 1));
  CHECK(both.matches_day(2024, 1, 3, 3));
  CHECK_FALSE(both.matches_day(2024, 1, 2, 2));
  const auto star = expr("0 0 */2 * 3");
  CHECK(star.matches_day(2024, 1, 3, 3));
  CHECK_FALSE(star.matches_day(2024, 1, 1, 1));   // odd day but Monday
  CHECK_FALSE(star.matches_day(2024, 1, 10, 3));  // Wednesday but even day
}

TEST_CASE("cron: aliases") {
  const char* from = "2024-01-01 00:00:01";
  check_cases({
      {"@yearly", "", from, {"2025-01-01 00:00"}},
      {"@annually", "", from, {"2025-01-01 00:00"}},
      {"@monthly", "", from, {"2024-02-01 00:00"}},
      {"@weekly", "", from, {"2024-01-07 00:00", "2024-01-14 00:00"}},
      {"@daily", "", from, {"2024-01-02 00:00"}},
      {"@midnight", "", from, {"2024-01-02 00:00"}},
      {"@hourly", "", from, {"2024-01-01 01:00", "2024-01-01 02:00"}},
      {"@DAILY", "", from, {"2024-01-02 00:00"}},
      {"  @daily  ", "", from, {"2024-01-02 00:00"}},
  });
  CHECK(expr("@daily").text() == "@daily");
  CHECK(expr("@hourly").hour_is_wildcard());
  CHECK_FALSE(expr("@daily").hour_is_wildcard());
}

TEST_CASE("cron: hour_is_wildcard follows the text of the hour field") {
  CHECK(expr("0 * * * *").hour_is_wildcard());
  CHECK(expr("0 */2 * * *").hour_is_wildcard());
  CHECK_FALSE(expr("0 0-23 * * *").hour_is_wildcard());
  CHECK_FALSE(expr("0 2 * * *").hour_is_wildcard());
}

TEST_CASE("cron: invalid expressions name the field and the value") {
  struct Bad {
    const char* cron;
    const char* message;
  };
  const Bad cases[] = {
      {"0 99 * * *", "invalid cron expression '0 99 * * *': hour value 99 is out of range (0-23)"},
      {"60 * * * *", "invalid cron expression '60 * * * *': minute value 60 is out of range (0-59)"},
      {"0 0 0 * *", "invalid cron expression '0 0 0 * *': day-of-month value 0 is out of range (1-31)"},
      {"0 0 32 * *", "invalid cron expression '0 0 32 * *': day-of-month value 32 is out of range (1-31)"},
      {"0 0 * 13 *", "invalid cron expression '0 0 * 13 *': month value 13 is out of range (1-12)"},
      {"0 0 * * 8", "invalid cron expression '0 0 * * 8': day-of-week value 8 is out of range (0-7)"},
      {"0 0 * * * 1969", "invalid cron expression '0 0 * * * 1969': year value 1969 is out of range (1970-2199)"},
      {"0 0 * * * 2200", "invalid cron expression '0 0 * * * 2200': year value 2200 is out of range (1970-2199)"},
      {"99999999999 * * * *",
       "invalid cron expression '99999999999 * * * *': minute value 99999999999 is out of range (0-59)"},
      {"0 0 * *", "invalid cron expression '0 0 * *': expected 5 or 6 fields (minute hour day-of-month month "
                  "day-of-week [year]), got 4"},
      {"0 0 * * * * *", "invalid cron expression '0 0 * * * * *': expected 5 or 6 fields (minute hour "
                        "day-of-month month day-of-week [year]), got 7"},
      {"", "invalid cron expression '': the expression is empty"},
      {"   ", "invalid cron expression '': the expression is empty"},
      {"1,,2 * * * *", "invalid cron expression '1,,2 * * * *': minute list '1,,2' has an empty item"},
      {"0 0 * * 1,", "invalid cron expression '0 0 * * 1,': day-of-week list '1,' has an empty item"},
      {"*/0 * * * *", "invalid cron expression '*/0 * * * *': minute step 0 is out of range (1-60)"},
      {"0 */25 * * *", "invalid cron expression '0 */25 * * *': hour step 25 is out of range (1-24)"},
      {"*/x * * * *", "invalid cron expression '*/x * * * *': minute step 'x' is not a number"},
      {"*/ * * * *", "invalid cron expression '*/ * * * *': minute step is missing in '*/'"},
      {"0 5-2 * * *", "invalid cron expression '0 5-2 * * *': hour range 5-2 is reversed"},
      {"0 0 * * FRI-MON", "invalid cron expression '0 0 * * FRI-MON': day-of-week range FRI-MON is reversed"},
      {"0 0 * DEC-JAN *", "invalid cron expression '0 0 * DEC-JAN *': month range DEC-JAN is reversed"},
      {"0 0 * FOO *",
       "invalid cron expression '0 0 * FOO *': month value 'FOO' is not a number or month name (JAN-DEC)"},
      {"0 0 * * MONDAY",
       "invalid cron expression '0 0 * * MONDAY': day-of-week value 'MONDAY' is not a number or day name (SUN-SAT)"},
      {"MON * * * *", "invalid cron expression 'MON * * * *': minute value 'MON' is not a number"},
      {"0 0 * JAN-FOO *",
       "invalid cron expression '0 0 * JAN-FOO *': month value 'FOO' is not a number or month name (JAN-DEC)"},
      {"a b c d e", "invalid cron expression 'a b c d e': minute value 'a' is not a number"},
      {"1.5 * * * *", "invalid cron expression '1.5 * * * *': minute value '1.5' is not a number"},
      {"? * * * *", "invalid cron expression '? * * * *': minute value '?' is not a number"},
      {"1- * * * *", "invalid cron expression '1- * * * *': minute item '1-' is malformed"},
      {"-5 * * * *", "invalid cron expression '-5 * * * *': minute item '-5' is malformed"},
      {"1-2-3 * * * *", "invalid cron expression '1-2-3 * * * *': minute item '1-2-3' is malformed"},
      {"/5 * * * *", "invalid cron expression '/5 * * * *': minute item '/5' is malformed"},
      {"*5 * * * *", "invalid cron expression '*5 * * * *': minute value '*5' is not a number"},
      {"@reboot", "invalid cron expression '@reboot': unknown alias '@reboot' (expected @yearly, @annually, "
                  "@monthly, @weekly, @daily, @midnight or @hourly)"},
      {"@daily 5", "invalid cron expression '@daily 5': alias '@daily' must stand alone"},
  };
  for (const auto& c : cases) {
    CHECK(parse_error(c.cron) == std::string(c.message));
  }
}

TEST_CASE("cron: can_ever_fire") {
  struct Fire {
    const char* cron;
    bool can;
  };
  const Fire cases[] = {
      {"* * * * *", true},
      {"0 0 30 2 *", false},
      {"0 0 31 2 *", false},
      {"0 0 31 4 *", false},
      {"0 0 31 4,6,9,11 *", false},
      {"0 0 30,31 2 *", false},
      {"0 0 29 2 *", true},          // leap years
      {"0 0 30 2 1", true},          // OR: any Monday in February
      {"0 0 30 2 */2", false},       // '*'-field: AND with the impossible day
      {"0 0 29 2 * 2025", false},    // no leap day in 2025
      {"0 0 29 2 * 2025-2028", true},
      {"0 0 29 2 * 2100", false},    // 2100 is not a leap year
      {"0 0 1 1 * 2020", true},      // clock-free: a past year still counts as firing
      {"0 0 29 2 */7", true},        // Feb 29 falling on a Sunday (2032, ...)
  };
  for (const auto& c : cases) {
    const std::string cron = c.cron;
    CAPTURE(cron);
    CHECK(expr(c.cron).can_ever_fire() == c.can);
  }
}

TEST_CASE("cron: leap days and schedules that never fire") {
  const auto leap = schedule("0 0 29 2 *");
  CHECK(text(leap.next(utc("2024-01-01 00:00"))) == "2024-02-29 00:00");
  CHECK(text(leap.next(utc("2024-02-29 00:01"))) == "2028-02-29 00:00");
  CHECK(text(leap.prev(utc("2027-12-31 00:00"))) == "2024-02-29 00:00");
  CHECK(text(leap.prev(utc("2024-02-29 00:00"))) == "2024-02-29 00:00");
  CHECK(text(leap.prev(utc("2024-02-28 23:59"))) == "2020-02-29 00:00");
  // 2100 is not a leap year; the search horizon reaches the next one.
  CHECK(text(leap.next(utc("2096-03-01 00:00"))) == "2104-02-29 00:00");
  CHECK(text(leap.prev(utc("2104-02-28 00:00"))) == "2096-02-29 00:00");

  const auto feb30 = schedule("0 0 30 2 *");
  CHECK_FALSE(feb30.expr().can_ever_fire());
  CHECK_FALSE(feb30.next(utc("2024-01-01 00:00")).has_value());
  CHECK_FALSE(feb30.prev(utc("2024-01-01 00:00")).has_value());
  CHECK_FALSE(feb30.fires_at(utc("2024-03-01 00:00")));
}

TEST_CASE("cron: year field limits the search") {
  const auto once = schedule("0 0 1 1 * 2025");
  CHECK(once.expr().first_year() == 2025);
  CHECK(once.expr().last_year() == 2025);
  CHECK(text(once.next(utc("2024-06-01 00:00"))) == "2025-01-01 00:00");
  CHECK(text(once.next(utc("2025-01-01 00:00"))) == "2025-01-01 00:00");
  CHECK_FALSE(once.next(utc("2025-01-01 00:01")).has_value());
  CHECK(text(once.prev(utc("2030-01-01 00:00"))) == "2025-01-01 00:00");
  CHECK_FALSE(once.prev(utc("2024-12-31 23:59")).has_value());
  CHECK(once.fires_at(utc("2025-01-01 00:00")));
  CHECK_FALSE(once.fires_at(utc("2026-01-01 00:00")));

  // Beyond the plain horizon: the year field says where to look.
  CHECK(text(schedule("0 0 1 1 * 2150").next(utc("2024-01-01 00:00"))) == "2150-01-01 00:00");
  CHECK(text(schedule("0 0 1 1 * 1980").prev(utc("2024-01-01 00:00"))) == "1980-01-01 00:00");
  check_cases({
      {"0 0 1 1 * 2024-2030/3", "", "2024-01-01 00:01", {"2027-01-01 00:00", "2030-01-01 00:00"}},
      {"0 0 1 1 * 2025,2027", "", "2024-01-01 00:00", {"2025-01-01 00:00", "2027-01-01 00:00"}},
      {"0 0 1 1 * *", "", "2024-01-01 00:01", {"2025-01-01 00:00"}},
  });
  CHECK_FALSE(expr("0 0 1 1 * *").first_year().has_value());
  CHECK_FALSE(expr("0 0 1 1 *").last_year().has_value());
}

TEST_CASE("cron: time zones, DST gaps and repeated hours") {
  check_cases({
      // Paris: spring forward 2024-03-31 02:00 CET -> 03:00 CEST; 02:00 fires at 03:00 CEST.
      {"0 2 * * *", "Europe/Paris", "2024-03-30 00:00", {"2024-03-30 01:00", "2024-03-31 01:00", "2024-04-01 00:00"}},
      {"30 2 * * *", "Europe/Paris", "2024-03-30 00:00", {"2024-03-30 01:30", "2024-03-31 01:00", "2024-04-01 00:30"}},
      // Several skipped minutes match: still once, at 03:00 CEST.
      {"*/15 2 * * *", "Europe/Paris", "2024-03-31 00:00", {"2024-03-31 01:00", "2024-04-01 00:00",
                                                           "2024-04-01 00:15"}},
      {"* 2 * * *", "Europe/Paris", "2024-03-31 00:00", {"2024-03-31 01:00", "2024-04-01 00:00"}},
      // 02:00 (skipped) and 03:00 (real) land on the same minute: one fire.
      {"0 2,3 * * *", "Europe/Paris", "2024-03-31 00:00", {"2024-03-31 01:00", "2024-04-01 00:00"}},
      // Hour '*': the skipped minutes do not exist.
      {"30 * * * *", "Europe/Paris", "2024-03-30 23:00", {"2024-03-30 23:30", "2024-03-31 00:30",
                                                         "2024-03-31 01:30", "2024-03-31 02:30"}},
      // Paris: fall back 2024-10-27 03:00 CEST -> 02:00 CET; 02:00 fires on its first occurrence.
      {"0 2 * * *", "Europe/Paris", "2024-10-26 00:00", {"2024-10-26 00:00", "2024-10-27 00:00", "2024-10-28 01:00"}},
      {"*/15 2 * * *", "Europe/Paris", "2024-10-27 00:00", {"2024-10-27 00:00", "2024-10-27 00:15",
                                                           "2024-10-27 00:30", "2024-10-27 00:45",
                                                           "2024-10-28 01:00"}},
      // Hour '*': 02:30 fires at 02:30 CEST and again at 02:30 CET.
      {"30 * * * *", "Europe/Paris", "2024-10-26 22:00", {"2024-10-26 22:30", "2024-10-26 23:30",
                                                         "2024-10-27 00:30", "2024-10-27 01:30",
                                                         "2024-10-27 02:30"}},
      // New York: spring forward 2024-03-10 02:00 EST -> 03:00 EDT.
      {"0 2 * * *", "America/New_York", "2024-03-09 00:00", {"2024-03-09 07:00", "2024-03-10 07:00",
                                                            "2024-03-11 06:00"}},
      // New York: fall back 2024-11-03 02:00 EDT -> 01:00 EST; 02:00 itself is not repeated.
      {"0 2 * * *", "America/New_York", "2024-11-02 00:00", {"2024-11-02 06:00", "2024-11-03 07:00",
                                                            "2024-11-04 07:00"}},
      {"30 1 * * *", "America/New_York", "2024-11-02 12:00", {"2024-11-03 05:30", "2024-11-04 06:30"}},
      {"30 * * * *", "America/New_York", "2024-11-03 04:00", {"2024-11-03 04:30", "2024-11-03 05:30",
                                                             "2024-11-03 06:30", "2024-11-03 07:30"}},
      // Lord Howe shifts by 30 minutes: 02:00 -> 02:30 (2024-10-06), 02:00 -> 01:30 (2024-04-07).
      {"10 2 * * *", "Australia/Lord_Howe", "2024-10-05 00:00", {"2024-10-05 15:30", "2024-10-06 15:10"}},
      {"45 1 * * *", "Australia/Lord_Howe", "2024-04-06 00:00", {"2024-04-06 14:45", "2024-04-07 15:15"}},
      // Samoa skipped 2011-12-30 entirely.
      {"0 12 * * *", "Pacific/Apia", "2011-12-28 00:00", {"2011-12-28 22:00", "2011-12-29 22:00",
                                                         "2011-12-30 10:00", "2011-12-30 22:00"}},
      // Moncton fell back 2000-10-29 00:01 ADT -> 2000-10-28 23:01 AST, so 23:01-00:00
      // repeats across midnight: Oct 29 00:00 ADT (03:00 UTC) comes before the second
      // 23:30 of Oct 28 (03:30 UTC), and 00:00 itself repeats (04:00 UTC).
      {"0,30 * * * *", "America/Moncton", "2000-10-29 02:45", {"2000-10-29 03:00", "2000-10-29 03:30",
                                                              "2000-10-29 04:00", "2000-10-29 04:30"}},
      {"0,30 23,0 * * *", "America/Moncton", "2000-10-29 02:45", {"2000-10-29 03:00", "2000-10-29 04:30",
                                                                 "2000-10-30 03:00"}},
      {"0 9 * * 1-5", "Asia/Kolkata", "2024-01-01 00:00", {"2024-01-01 03:30", "2024-01-02 03:30"}},
  });
}

TEST_CASE("cron: time zone names") {
  auto bad = wf::CronSchedule::make("* * * * *", "Mars/Olympus");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "unknown time zone 'Mars/Olympus'");
  // The expression is checked first.
  auto both = wf::CronSchedule::make("0 99 * * *", "Mars/Olympus");
  REQUIRE_FALSE(both.ok());
  CHECK(both.error().message == "invalid cron expression '0 99 * * *': hour value 99 is out of range (0-23)");

  const auto plain = schedule("0 9 * * *");
  CHECK(plain.tz_name() == "UTC");
  CHECK(text(plain.next(utc("2024-07-01 10:00"))) == "2024-07-02 09:00");
  CHECK(plain.local_text(utc("2024-01-01 00:00")) == "2024-01-01 00:00 UTC (+00:00)");

  const auto paris = schedule("0 2 * * *", "Europe/Paris");
  CHECK(paris.tz_name() == "Europe/Paris");
  CHECK(paris.local_text(utc("2024-03-31 01:00")) == "2024-03-31 03:00 CEST (+02:00)");
  CHECK(paris.local_text(utc("2024-10-27 01:00")) == "2024-10-27 02:00 CET (+01:00)");
  CHECK(schedule("* * * * *", "America/New_York").local_text(utc("2024-11-03 06:00")) ==
        "2024-11-03 01:00 EST (-05:00)");
  CHECK(schedule("* * * * *", "Asia/Kolkata").local_text(utc("2024-01-01 00:00")) ==
        "2024-01-01 05:30 IST (+05:30)");
}

TEST_CASE("cron: fires_at agrees with next and prev") {
  const auto paris = schedule("0 2 * * *", "Europe/Paris");
  CHECK(paris.fires_at(utc("2024-03-31 01:00")));
  CHECK(paris.fires_at(utc("2024-10-27 00:00")));
  CHECK_FALSE(paris.fires_at(utc("2024-10-27 01:00")));  // the second 02:00
  CHECK(paris.fires_at(utc("2024-10-27 00:00:42")));     // any second of the minute
  const auto hourly = schedule("30 * * * *", "Europe/Paris");
  CHECK(hourly.fires_at(utc("2024-10-27 00:30")));
  CHECK(hourly.fires_at(utc("2024-10-27 01:30")));

  // Minute by minute over two days around each change: fires_at defines the set, and
  // next/prev must find exactly its neighbours.
  struct Window {
    const char* tz;
    const char* start;
  };
  const Window windows[] = {
      {"Europe/Paris", "2024-03-30 12:00"},     {"Europe/Paris", "2024-10-26 12:00"},
      {"America/New_York", "2024-03-09 12:00"}, {"America/New_York", "2024-11-02 12:00"},
      {"Australia/Lord_Howe", "2024-04-06 00:00"}, {"Australia/Lord_Howe", "2024-10-05 00:00"},
      {"Pacific/Apia", "2011-12-29 00:00"},     {"UTC", "2024-02-28 12:00"},
      // Fell back at 00:01 to 23:01 the day before (Goose Bay 1988: to 22:01), so a
      // repeated period straddles local midnight and neighbouring days interleave in UTC.
      {"America/Moncton", "2000-10-28 12:00"},  {"America/Goose_Bay", "1988-10-29 12:00"},
      {"America/Moncton", "2000-04-01 12:00"},
  };
  const char* crons[] = {"* * * * *",    "30 * * * *",   "0 2 * * *",     "*/15 2 * * *", "0 1,2,3 * * *",
                         "10 2 * * *",   "45 1 * * *",   "*/7 */2 * * *", "0 0 * * *",    "59 23 * * *",
                         "* 2 * * *",    "0 12 * * *",   "30 2 29 2 *",   "0,30 * * * *", "30 23 * * *",
                         "0 0,23 * * *"};
  for (const auto& w : windows) {
    for (const char* c : crons) {
      const std::string what = std::string(c) + " [" + w.tz + "] from " + w.start;
      CAPTURE(what);
      const auto s = schedule(c, w.tz);
      const auto begin = utc(w.start);
      const auto end = begin + chr::hours{48};
      std::vector<chr::sys_seconds> set;
      for (auto m = begin; m < end; m += chr::minutes{1})
        if (s.fires_at(m)) set.push_back(m);
      std::size_t i = 0;
      bool all_ok = true;
      for (auto m = begin; m < end && all_ok; m += chr::minutes{1}) {
        while (i < set.size() && set[i] < m) ++i;
        const auto n = s.next(m);
        if (i < set.size()) all_ok = n && *n == set[i];
        else all_ok = !n || *n >= end;
        const auto p = s.prev(m);
        const bool on = i < set.size() && set[i] == m;
        if (on) all_ok = all_ok && p && *p == m;
        else if (i > 0) all_ok = all_ok && p && *p == set[i - 1];
        else all_ok = all_ok && (!p || *p < begin);
        if (!all_ok) {
          CAPTURE(text(m));
          CAPTURE(text(n));
          CAPTURE(text(p));
          CHECK(all_ok);
        }
      }
      CHECK(all_ok);
    }
  }
}

TEST_CASE("cron: prev mirrors next") {
  const struct {
    const char* cron;
    const char* tz;
  } cases[] = {
      {"0 2 * * *", "Europe/Paris"},   {"30 * * * *", "Europe/Paris"}, {"*/15 2 * * *", "America/New_York"},
      {"0 0 29 2 *", ""},              {"0 9 * * MON-FRI", "Asia/Tokyo"}, {"0 0 1,15 * 3", ""},
      {"@weekly", "Australia/Sydney"}, {"0 0 1 1 * 2024-2030/2", ""},
  };
  for (const auto& c : cases) {
    const std::string what = std::string(c.cron) + " [" + c.tz + "]";
    CAPTURE(what);
    const auto s = schedule(c.cron, c.tz);
    std::vector<wf::UtcMinute> forward;
    for (auto t = s.next(utc("2023-12-31 00:00")); t && forward.size() < 60; t = s.next(*t + chr::minutes{1}))
      forward.push_back(*t);
    REQUIRE(forward.size() >= 4);
    std::vector<wf::UtcMinute> backward;
    for (auto t = s.prev(forward.back()); t && backward.size() < forward.size(); t = s.prev(*t - chr::minutes{1}))
      backward.push_back(*t);
    std::reverse(backward.begin(), backward.end());
    CHECK(backward == forward);
    for (std::size_t i = 1; i < forward.size(); ++i) {
      CHECK(s.prev(forward[i] - chr::seconds{1}) == forward[i - 1]);
      CHECK(s.prev(forward[i] + chr::seconds{59}) == forward[i]);
      CHECK(s.next(forward[i - 1] + chr::seconds{1}) == forward[i]);
      CHECK(s.fires_at(forward[i]));
    }
  }
}

TEST_CASE("cron: sparse schedules are fast") {
  const char* crons[] = {"0 0 29 2 *", "0 0 29 2 1", "0 0 30 2 *", "0 0 29 2 */7", "0 0 1 1 * 2199"};
  for (const char* c : crons) {
    const auto s = schedule(c, "Europe/Paris");
    const auto t0 = chr::steady_clock::now();
    int found = 0;
    for (int i = 0; i < 1000; ++i) {
      const auto from = utc("2024-01-01 00:00") + chr::hours{24 * 3 * i};
      if (s.next(from)) ++found;
      if (s.prev(from)) ++found;
    }
    const auto ms = chr::duration<double, std::milli>(chr::steady_clock::now() - t0).count();
    const std::string line = "1000 next()+prev() on '" + std::string(c) + "': " + std::to_string(ms) + " ms (" +
                             std::to_string(found) + " found)";
    MESSAGE(line);
  }
}
