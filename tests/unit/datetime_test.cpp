#include "wf/datetime.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

std::string iso(std::string_view text) {
  auto r = wf::parse_iso_datetime(text);
  REQUIRE_MESSAGE(r.ok(), text);
  return wf::format_iso_datetime(*r);
}

std::string datetime_error(std::string_view text) {
  auto r = wf::parse_iso_datetime(text);
  REQUIRE_MESSAGE(!r.ok(), text);
  return r.error().message;
}

}  // namespace

TEST_CASE("parse_iso_datetime accepts the documented forms") {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"2024-01-31", "2024-01-31T00:00:00Z"},
      {"2024-01-31T09:05", "2024-01-31T09:05:00Z"},
      {"2024-01-31T09:05:07", "2024-01-31T09:05:07Z"},
      {"2024-01-31 09:05:07", "2024-01-31T09:05:07Z"},
      {"2024-01-31T09:05:07Z", "2024-01-31T09:05:07Z"},
      {"2024-01-31T09:05Z", "2024-01-31T09:05:00Z"},
      {"2024-01-31T09:05:07.123456", "2024-01-31T09:05:07Z"},
      {"2024-01-31T09:05:07.9Z", "2024-01-31T09:05:07Z"},
      {"2024-01-01T09:00+02:00", "2024-01-01T07:00:00Z"},
      {"2024-01-01T09:00:00+0200", "2024-01-01T07:00:00Z"},
      {"2024-01-01T09:00:00-05:30", "2024-01-01T14:30:00Z"},
      {"2024-01-01T01:00+02:00", "2023-12-31T23:00:00Z"},  // crosses the year back
      {"2023-12-31T23:30-01:00", "2024-01-01T00:30:00Z"},  // and forward
      {"2024-03-01T00:30+01:00", "2024-02-29T23:30:00Z"},  // into a leap day
      {"2024-02-29", "2024-02-29T00:00:00Z"},
      {"2000-02-29T12:00", "2000-02-29T12:00:00Z"},  // divisible by 400: leap
      {"2023-12-31T23:59:59", "2023-12-31T23:59:59Z"},
      {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
      {"1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(iso(c.in) == c.out);
  }
}

TEST_CASE("parse_iso_datetime rejects invalid values") {
  const char* bad[] = {
      "",
      "2024",
      "2024-1-01",
      "2024-01-1",
      "24-01-01",
      "2024/01/01",
      "2024-02-30",
      "2023-02-29",
      "1900-02-29",  // divisible by 100, not by 400
      "2024-13-01",
      "2024-00-10",
      "2024-04-31",
      "2024-01-00",
      "2024-01-01T24:00",
      "2024-01-01T23:60",
      "2024-01-01T23:59:60",
      "2024-01-01T9:00",
      "2024-01-01T09",
      "2024-01-01T09:00:",
      "2024-01-01T09:00:00.",
      "2024-01-01T",
      "2024-01-01Z",
      "2024-01-01x",
      "2024-01-01T09:00:00Zx",
      "2024-01-01T09:00:00 ",
      " 2024-01-01",
      "2024-01-01T09:00+2",
      "2024-01-01T09:00+02:0",
      "2024-01-01T09:00+24:00",
      "2024-01-01T09:00+02:60",
      "2024-01-01T09:00+02:00:00",
      "2024-01-01t09:00",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK_FALSE(wf::parse_iso_datetime(text).ok());
  }
}

TEST_CASE("datetime errors say what is wrong") {
  CHECK(datetime_error("2024-02-30") == "invalid datetime \"2024-02-30\": day 30 does not exist in 2024-02");
  CHECK(datetime_error("2024-13-01") == "invalid datetime \"2024-13-01\": month 13 is out of range (01-12)");
  CHECK(datetime_error("2024-01-01T24:00") ==
        "invalid datetime \"2024-01-01T24:00\": hour 24 is out of range (00-23)");
  CHECK(datetime_error("2024-01-01T10:00Zx") ==
        "invalid datetime \"2024-01-01T10:00Zx\": unexpected \"x\" at position 18");
  CHECK(datetime_error("yesterday") == "invalid datetime \"yesterday\": expected YYYY-MM-DD");
}

TEST_CASE("parse_iso_date accepts only YYYY-MM-DD") {
  auto leap = wf::parse_iso_date("2024-02-29");
  REQUIRE(leap.ok());
  CHECK(wf::format_iso_date(*leap) == "2024-02-29");
  CHECK(wf::format_iso_datetime(*leap) == "2024-02-29T00:00:00Z");

  for (const char* text : {"2024-02-30", "2023-02-29", "2024-13-01", "2024-01-01T00:00",
                           "2024-01-01T00:00:00Z", "2024-01-01 ", "2024-1-1", ""}) {
    CAPTURE(text);
    CHECK_FALSE(wf::parse_iso_date(text).ok());
  }
  CHECK(wf::parse_iso_date("2024-01-01T00:00").error().message ==
        "invalid date \"2024-01-01T00:00\": expected YYYY-MM-DD, unexpected \"T00:00\" at position 11");
  CHECK(wf::parse_iso_date("2024-02-30").error().message ==
        "invalid date \"2024-02-30\": day 30 does not exist in 2024-02");
}

TEST_CASE("format_iso_date and format_iso_datetime") {
  using namespace std::chrono;
  const wf::UtcSeconds t = sys_days{2024y / January / 31} + 9h + 5min;
  CHECK(wf::format_iso_date(t) == "2024-01-31");
  CHECK(wf::format_iso_datetime(t) == "2024-01-31T09:05:00Z");
  const wf::UtcSeconds before_epoch{seconds{-1}};
  CHECK(wf::format_iso_datetime(before_epoch) == "1969-12-31T23:59:59Z");
}

TEST_CASE("format_time implements the strftime conversions in UTC") {
  const auto t = *wf::parse_iso_datetime("2024-03-05T07:08:09Z");
  struct Case {
    const char* pattern;
    const char* out;
  };
  const Case cases[] = {
      {"%Y-%m-%d", "2024-03-05"},
      {"%H:%M:%S", "07:08:09"},
      {"%j", "065"},
      {"%a %A", "Tue Tuesday"},
      {"%b %B", "Mar March"},
      {"%y", "24"},
      {"%Z", "UTC"},
      {"%s", "1709622489"},
      {"100%%", "100%"},
      {"%%Z", "%Z"},
      {"%z", "+0000"},
      {"%-d/%-m", "5/3"},
      {"plain text", "plain text"},
      {"", ""},
      {"%p", "AM"},
      {"%Y%m%dT%H%M%SZ", "20240305T070809Z"},
      {"trailing %", "trailing %"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.pattern);
    CHECK(wf::format_time(t, c.pattern) == c.out);
  }
  CHECK(wf::format_time(*wf::parse_iso_datetime("2024-12-31"), "%j") == "366");
  CHECK(wf::format_time(*wf::parse_iso_datetime("1969-12-31T23:59:59Z"), "%s") == "-1");
}

TEST_CASE("format_time handles long results") {
  const auto t = *wf::parse_iso_datetime("2024-03-05T07:08:09Z");
  const std::string pattern(3000, 'x');
  CHECK(wf::format_time(t, pattern + "%Y") == pattern + "2024");
  std::string many;
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    many += "%B ";
    expected += "March ";
  }
  CHECK(wf::format_time(t, many) == expected);
}
