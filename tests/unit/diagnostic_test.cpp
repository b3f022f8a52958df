#include "wf/diagnostic.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using wf::Diagnostic;
using wf::DiagnosticList;
using wf::Severity;
using wf::SourcePos;

namespace {

const std::string kSource =
    "etl:\n"
    "  type: Workflow\n"
    "  jobs:\n"
    "    extract:\n"
    "      need: [load]\n";

}  // namespace

TEST_CASE("diagnostic: format shows file:line:col, the source line and a caret under the column") {
  DiagnosticList d;
  d.add_source("conf/etl.yaml", kSource);
  d.error(SourcePos{"conf/etl.yaml", 5, 7}, "unknown key 'need' in job 'extract'; did you mean 'needs'?");
  REQUIRE(d.items().size() == 1);
  CHECK(d.format(d.items()[0]) ==
        "conf/etl.yaml:5:7: error: unknown key 'need' in job 'extract'; did you mean 'needs'?\n"
        "        need: [load]\n"
        "        ^\n");
}

TEST_CASE("diagnostic: warnings and notes are labelled as such") {
  DiagnosticList d;
  d.add_source("f.yaml", kSource);
  d.warning(SourcePos{"f.yaml", 2, 9}, "careful");
  d.note(SourcePos{"f.yaml", 1, 1}, "skipped");
  CHECK(d.format(d.items()[0]) ==
        "f.yaml:2:9: warning: careful\n"
        "    type: Workflow\n"
        "          ^\n");
  CHECK(d.format(d.items()[1]) ==
        "f.yaml:1:1: note: skipped\n"
        "  etl:\n"
        "  ^\n");
}

TEST_CASE("diagnostic: format without a known source, line or file") {
  DiagnosticList d;
  d.error(SourcePos{"other.yaml", 3, 4}, "no source kept");
  d.error(SourcePos{"f.yaml", 0, 0}, "cannot read file: No such file or directory");
  d.error(SourcePos{}, "no place at all");
  d.add_source("f.yaml", kSource);
  CHECK(d.format(d.items()[0]) == "other.yaml:3:4: error: no source kept\n");
  CHECK(d.format(d.items()[1]) == "f.yaml: error: cannot read file: No such file or directory\n");
  CHECK(d.format(d.items()[2]) == "wf: error: no place at all\n");
}

TEST_CASE("diagnostic: a line past the end of the source prints no source line") {
  DiagnosticList d;
  d.add_source("f.yaml", kSource);
  d.error(SourcePos{"f.yaml", 40, 2}, "far away");
  CHECK(d.format(d.items()[0]) == "f.yaml:40:2: error: far away\n");
}

TEST_CASE("diagnostic: column 0 on a known line is shown as column 1") {
  DiagnosticList d;
  d.add_source("f.yaml", kSource);
  d.error(SourcePos{"f.yaml", 2, 0}, "whole line");
  CHECK(d.format(d.items()[0]) ==
        "f.yaml:2:1: error: whole line\n"
        "    type: Workflow\n"
        "  ^\n");
}

TEST_CASE("diagnostic: the caret keeps tabs so it lines up under the column") {
  DiagnosticList d;
  d.add_source("t.yaml", "a:\n\tb: x\n");
  d.error(SourcePos{"t.yaml", 2, 5}, "here");
  CHECK(d.format(d.items()[0]) ==
        "t.yaml:2:5: error: here\n"
        "  \tb: x\n"
        "  \t   ^\n");
}

TEST_CASE("diagnostic: a caret past the end of the line stops after the last character") {
  DiagnosticList d;
  d.add_source("f.yaml", "ab\n");
  d.error(SourcePos{"f.yaml", 1, 9}, "end");
  CHECK(d.format(d.items()[0]) ==
        "f.yaml:1:9: error: end\n"
        "  ab\n"
        "    ^\n");
}

TEST_CASE("diagnostic: CRLF sources print without the carriage return") {
  DiagnosticList d;
  d.add_source("f.yaml", "a: 1\r\nbb: 2\r\n");
  d.error(SourcePos{"f.yaml", 2, 2}, "crlf");
  CHECK(d.format(d.items()[0]) ==
        "f.yaml:2:2: error: crlf\n"
        "  bb: 2\n"
        "   ^\n");
}

TEST_CASE("diagnostic: color wraps the severity word and the caret in ANSI codes") {
  DiagnosticList d;
  d.add_source("f.yaml", "ab\n");
  d.error(SourcePos{"f.yaml", 1, 2}, "bad");
  d.warning(SourcePos{"f.yaml", 1, 1}, "meh");
  d.note(SourcePos{}, "fyi");
  CHECK(d.format(d.items()[0], true) ==
        "f.yaml:1:2: \033[1;31merror:\033[0m bad\n"
        "  ab\n"
        "   \033[1;32m^\033[0m\n");
  CHECK(d.format(d.items()[1], true) ==
        "f.yaml:1:1: \033[1;35mwarning:\033[0m meh\n"
        "  ab\n"
        "  \033[1;32m^\033[0m\n");
  CHECK(d.format(d.items()[2], true) == "wf: \033[1;36mnote:\033[0m fyi\n");
}

TEST_CASE("diagnostic: counts by severity") {
  DiagnosticList d;
  CHECK_FALSE(d.has_errors());
  CHECK(d.error_count() == 0);
  d.warning(SourcePos{}, "w1");
  d.note(SourcePos{}, "n1");
  CHECK_FALSE(d.has_errors());
  CHECK(d.warning_count() == 1);
  d.error(SourcePos{}, "e1");
  d.error(SourcePos{}, "e2");
  CHECK(d.has_errors());
  CHECK(d.error_count() == 2);
  CHECK(d.warning_count() == 1);
  CHECK(d.items().size() == 4);
}

TEST_CASE("diagnostic: sorted() orders by file, line, column and keeps insertion order for ties") {
  DiagnosticList d;
  d.error(SourcePos{"b.yaml", 1, 1}, "b1");
  d.error(SourcePos{"a.yaml", 3, 5}, "a3:5");
  d.warning(SourcePos{"a.yaml", 3, 2}, "a3:2");
  d.error(SourcePos{"a.yaml", 10, 1}, "a10");
  d.error(SourcePos{"a.yaml", 3, 5}, "a3:5 second");
  d.note(SourcePos{"a.yaml", 2, 9}, "a2");
  d.error(SourcePos{}, "nowhere");
  std::vector<std::string> got;
  for (const Diagnostic& x : d.sorted()) got.push_back(x.message);
  CHECK(got == std::vector<std::string>{"nowhere", "a2", "a3:2", "a3:5", "a3:5 second", "a10", "b1"});
  // items() keeps the order they were added in.
  CHECK(d.items().front().message == "b1");
}

TEST_CASE("diagnostic: source() returns the kept text, or null") {
  DiagnosticList d;
  CHECK(d.source("f.yaml") == nullptr);
  d.add_source("f.yaml", "one");
  REQUIRE(d.source("f.yaml") != nullptr);
  CHECK(*d.source("f.yaml") == "one");
  d.add_source("f.yaml", "two");  // replaced, e.g. a file read again
  CHECK(*d.source("f.yaml") == "two");
}

TEST_CASE("diagnostic: source_line is 1-based and drops the newline") {
  const std::string text = "first\nsecond\r\n\nfourth";
  CHECK(wf::source_line(text, 1) == "first");
  CHECK(wf::source_line(text, 2) == "second");
  CHECK(wf::source_line(text, 3) == "");
  CHECK(wf::source_line(text, 4) == "fourth");
  CHECK(wf::source_line(text, 5) == "");
  CHECK(wf::source_line(text, 0) == "");
  CHECK(wf::source_line(text, -3) == "");
  CHECK(wf::source_line("", 1) == "");
}

TEST_CASE("diagnostic: position_of maps a byte offset to line and column") {
  const std::string text = "ab\ncde\n\nf";
  auto at = [&](std::size_t off) {
    SourcePos p = wf::position_of(text, off, "x.yaml");
    CHECK(p.file == "x.yaml");
    return std::to_string(p.line) + ":" + std::to_string(p.col);
  };
  CHECK(at(0) == "1:1");
  CHECK(at(1) == "1:2");
  CHECK(at(2) == "1:3");  // the newline itself
  CHECK(at(3) == "2:1");
  CHECK(at(5) == "2:3");
  CHECK(at(7) == "3:1");
  CHECK(at(8) == "4:1");
  CHECK(at(9) == "4:2");    // one past the end
  CHECK(at(500) == "4:2");  // clamped
}

TEST_CASE("diagnostic: offset_of is the inverse of position_of, clamped to the text") {
  const std::string text = "ab\ncde\n\nf";
  CHECK(wf::offset_of(text, 1, 1) == 0);
  CHECK(wf::offset_of(text, 1, 3) == 2);
  CHECK(wf::offset_of(text, 2, 1) == 3);
  CHECK(wf::offset_of(text, 2, 3) == 5);
  CHECK(wf::offset_of(text, 4, 1) == 8);
  CHECK(wf::offset_of(text, 4, 99) == text.size());
  CHECK(wf::offset_of(text, 99, 1) == text.size());
  CHECK(wf::offset_of(text, 1, 0) == 0);
  for (std::size_t off = 0; off < text.size(); ++off) {
    SourcePos p = wf::position_of(text, off, "");
    CHECK(wf::offset_of(text, p.line, p.col) == off);
  }
}
