#include "wf/reporter.hpp"

#include <doctest/doctest.h>

#include <string>

#include "terminal_view.hpp"

using wf::Status;

namespace {

// A temp file standing in for stdout; text() reads back all that was written.
struct Capture {
  std::FILE* f = std::tmpfile();
  ~Capture() { std::fclose(f); }
  std::string text() const {
    std::fflush(f);
    std::string s;
    std::rewind(f);
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) s.append(buf, n);
    return s;
  }
};

wf::RunSummary failed_summary() {
  wf::RunSummary s;
  s.run_id = "R1";
  s.workflow = "wf1";
  s.status = Status::Failed;
  s.exit_code = 1;
  s.seconds = 1.5;
  s.jobs = {{"build (eu)", Status::Success, 1.25, ""}, {"test", Status::Failed, 0.5, "ShellError: exit status 3"}};
  s.failed = {{"test", "unit tests", "ShellError: exit status 3", {"first", "last words"}}};
  return s;
}

void drive(wf::Reporter& r) {
  r.run_started("R1", "wf1", "");
  r.stage_started("build (eu)", "compile");
  r.stage_output("build (eu)", "compile", false, "compiling");
  r.stage_finished({"build (eu)", "compile", Status::Success, 1.25, ""});
  r.job_finished({"build (eu)", Status::Success, 1.25, ""});
  r.stage_started("test", "unit tests");
  r.tick();
  r.stage_finished({"test", "unit tests", Status::Failed, 0.5, "ShellError: exit status 3"});
  r.job_finished({"test", Status::Failed, 0.5, "ShellError: exit status 3"});
  r.run_finished(failed_summary());
}

}  // namespace

TEST_CASE("terminal view: display_width skips escapes and counts wide code points twice") {
  CHECK(wf::display_width("abc") == 3);
  CHECK(wf::display_width("\033[31mabc\033[0m") == 3);
  CHECK(wf::display_width("⠋ a…") == 4);
  CHECK(wf::display_width("日本") == 4);
}

TEST_CASE("terminal view: fit_to_width cuts with an ellipsis and never splits a wide character") {
  CHECK(wf::fit_to_width("short", 10) == "short");
  CHECK(wf::fit_to_width("abcdefghij", 10) == "abcdefghij");
  CHECK(wf::fit_to_width("abcdefghijk", 10) == "abcdefghi…");
  CHECK(wf::fit_to_width("\033[31mabcdef\033[0m", 4) == "\033[31mabc…\033[0m");
  CHECK(wf::fit_to_width("日本語", 4) == "日…");
  CHECK(wf::display_width(wf::fit_to_width("日本語日本語", 5)) <= 5);
}

TEST_CASE("terminal view: printable keeps colour and drops what would move the cursor") {
  CHECK(wf::printable("plain\ttext") == "plain\ttext");
  CHECK(wf::printable("\033[32mok\033[0m") == "\033[32mok\033[0m\033[0m");
  CHECK(wf::printable("a\033[2Ab\033[Kc") == "abc");
  CHECK(wf::printable("10%\r50%\r100%") == "100%");
  CHECK(wf::printable("windows line\r") == "windows line");
  CHECK(wf::printable("bell\a back\bspace") == "bell backspace");
  CHECK(wf::printable("\033]0;title\atext") == "text");
}

TEST_CASE("terminal view: elapsed_text") {
  CHECK(wf::elapsed_text(0.04) == "0.0s");
  CHECK(wf::elapsed_text(3.21) == "3.2s");
  CHECK(wf::elapsed_text(65) == "1m05s");
  CHECK(wf::elapsed_text(7380) == "2h03m");
}

TEST_CASE("terminal view: the live area lists each running stage, then the counts") {
  std::vector<wf::LiveStage> running = {{"build (eu, 1)/compile", 3.21}, {"lint/check", 0.4}};
  auto lines = wf::layout_live_area(running, {2, 5, 1, 12.5}, {100, 30}, 0, false);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "  ⠋ build (eu, 1)/compile  3.2s");
  CHECK(lines[1] == "  ⠋ lint/check             0.4s");
  CHECK(lines[2] == "  2 running, 5 done, 1 failed  12.5s");
}

TEST_CASE("terminal view: many running stages collapse to rows-5 lines and a count") {
  std::vector<wf::LiveStage> running;
  for (int i = 0; i < 60; ++i) running.push_back({"m (" + std::to_string(i) + ")/s", 0.2});
  auto lines = wf::layout_live_area(running, {60, 100, 0, 3}, {100, 30}, 3, false);
  REQUIRE(lines.size() == 27);
  CHECK(lines[24].find("m (24)/s") != std::string::npos);
  CHECK(lines[25] == "  … and 35 more running");
  CHECK(lines[26] == "  60 running, 100 done  3.0s");

  // One more than fits is shown rather than counted.
  running.resize(26);
  CHECK(wf::layout_live_area(running, {26, 0, 0, 1}, {100, 30}, 0, false).size() == 27);
  // A tiny terminal keeps only the counts.
  CHECK(wf::layout_live_area(running, {26, 0, 0, 1}, {100, 3}, 0, false).size() == 1);
}

TEST_CASE("terminal view: every live line fits the width, the elapsed time stays in view") {
  std::vector<wf::LiveStage> running = {{"a-very-long-job-name (with, matrix, values)/and-a-long-stage-name", 42.0}};
  for (int cols : {60, 30, 12, 3}) {
    auto lines = wf::layout_live_area(running, {1, 0, 0, 42}, {cols, 24}, 0, true);
    for (const auto& l : lines) CHECK(wf::display_width(l) <= cols - 1);
    if (cols >= 30) CHECK(lines[0].find("42.0s") != std::string::npos);
  }
}

TEST_CASE("terminal view: show repaints in place; a narrower terminal's rewrapped rows are erased") {
  Capture c;
  {
    wf::TerminalView v(c.f);
    v.print("done 1");
    v.show({"  ⠋ a/b  1.0s", "  1 running, 0 done  1.0s"}, 80);
    CHECK(c.text() == "done 1\n  ⠋ a/b  1.0s\n  1 running, 0 done  1.0s\n");
    v.show({std::string(70, 'x')}, 80);
    CHECK(c.text().substr(c.text().rfind("\r")) == "\r\033[2A\033[J" + std::string(70, 'x') + "\n");
    v.show({"y"}, 30);  // the 70 columns now take 3 rows
    CHECK(c.text().substr(c.text().rfind("\r")) == "\r\033[3A\033[Jy\n");
    v.print("last");
    v.clear(30);
    CHECK(c.text().substr(c.text().rfind("\r")) == "\r\033[1A\033[Jlast\n");
  }
  std::string before = c.text();
  wf::TerminalView idle(c.f);
  idle.clear(80);
  CHECK(c.text() == before);  // nothing drawn, nothing written
}

TEST_CASE("reporter: plain lines carry no escape codes") {
  Capture c;
  {
    auto r = wf::make_reporter(wf::ReportMode::Plain, c.f, false);
    drive(*r);
  }
  std::string out = c.text();
  CHECK(out.find('\033') == std::string::npos);
  CHECK(out.find("build (eu)/compile | compiling\n") != std::string::npos);
  CHECK(out.find("see: wf logs R1 'test/unit tests'") != std::string::npos);
}

TEST_CASE("reporter: the terminal view ends with the summary and no live area") {
  Capture c;
  {
    auto r = wf::make_reporter(wf::ReportMode::Terminal, c.f, false);
    CHECK(r->tick_interval().count() > 0);
    drive(*r);
  }
  std::string out = c.text();
  CHECK(out.find("\033[J") != std::string::npos);     // the area was drawn and erased
  CHECK(out.find("\033[3") == std::string::npos);     // no colour when colour is off
  std::string tail = out.substr(out.rfind("\033[J") + 3);
  CHECK(tail.find(" running, ") == std::string::npos);
  // Events within the redraw gap are queued and written together, in order, above the area.
  CHECK(out.find("build (eu)/compile | compiling\nbuild (eu)/compile  SUCCESS 1.25s\nbuild (eu)  SUCCESS 1.25s\n") !=
        std::string::npos);
  CHECK(tail.find("  JOB         STATUS   TIME\n"
                  "  build (eu)  SUCCESS  1.25s\n"
                  "  test        FAILED   500ms\n") != std::string::npos);
  CHECK(tail.find("failed: test/unit tests — ShellError: exit status 3\n"
                  "  | first\n"
                  "  | last words\n"
                  "  see: wf logs R1 'test/unit tests'\n") != std::string::npos);
  CHECK(tail.size() >= 2);
  CHECK(tail.substr(tail.rfind('\n', tail.size() - 2) + 1) == "run R1 FAILED in 1.50s (2 jobs: 1 success, 1 failed)\n");
}

TEST_CASE("reporter: the terminal summary counts job attempts") {
  Capture c;
  {
    auto r = wf::make_reporter(wf::ReportMode::Terminal, c.f, false);
    r->run_started("R2", "wf2", "");
    r->stage_started("flaky", "s");
    r->stage_finished({"flaky", "s", Status::Failed, 0.1, "ShellError: exit status 1"});
    r->job_finished({"flaky", Status::Failed, 0.1, "ShellError: exit status 1 (retrying)"});
    r->stage_started("flaky", "s");
    r->stage_finished({"flaky", "s", Status::Success, 0.1, ""});
    r->job_finished({"flaky", Status::Success, 0.1, ""});
    wf::RunSummary s;
    s.run_id = "R2";
    s.status = Status::Success;
    s.seconds = 0.3;
    s.jobs = {{"flaky", Status::Success, 0.1, ""}};
    r->run_finished(s);
  }
  std::string out = c.text();
  CHECK(out.find("  JOB    STATUS   TIME      ATTEMPTS\n  flaky  SUCCESS  100ms     2\n") != std::string::npos);
}
