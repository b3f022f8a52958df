#include "wf/reporter.hpp"

#include <ctime>
#include <map>

namespace wf {

namespace {

std::string clock_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string duration_text(double s) {
  char buf[32];
  if (s < 1) std::snprintf(buf, sizeof buf, "%dms", static_cast<int>(s * 1000 + 0.5));
  else if (s < 60) std::snprintf(buf, sizeof buf, "%.2fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) % 3600) / 60);
  return buf;
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl) + " ...";
}

const char* status_colour(Status s) {
  switch (s) {
    case Status::Success: return "\033[32m";
    case Status::Failed: return "\033[31m";
    case Status::Skip: return "\033[90m";
    case Status::Cancel: return "\033[33m";
    case Status::Wait: return "\033[36m";
  }
  return "";
}

// Timestamped lines; with colour on a terminal. The live view of a later version builds
// on the same events.
class LineReporter : public Reporter {
 public:
  LineReporter(std::FILE* out, bool color, bool show_output) : out_(out), color_(color), show_output_(show_output) {}

  void run_started(std::string_view run_id, std::string_view workflow, std::string_view run_name) override {
    std::fprintf(out_, "%s run %.*s: %.*s%s%.*s\n", clock_now().c_str(), static_cast<int>(run_id.size()), run_id.data(),
                 static_cast<int>(workflow.size()), workflow.data(), run_name.empty() ? "" : " — ",
                 static_cast<int>(run_name.size()), run_name.data());
    std::fflush(out_);
  }
  void stage_started(std::string_view, std::string_view) override {}
  void stage_output(std::string_view job, std::string_view stage, bool is_stderr, std::string_view line) override {
    if (!show_output_) return;
    std::fprintf(out_, "%s%.*s/%.*s |%s %.*s\n", color_ ? "\033[90m" : "", static_cast<int>(job.size()), job.data(),
                 static_cast<int>(stage.size()), stage.data(), color_ ? "\033[0m" : "", static_cast<int>(line.size()),
                 line.data());
    (void)is_stderr;
    std::fflush(out_);
  }
  void stage_finished(const StageEvent& e) override {
    std::string status = paint(e.status);
    std::string extra = e.error.empty() ? "" : "  " + first_line(e.error);
    std::fprintf(out_, "%s %s/%s  %s %s%s\n", clock_now().c_str(), e.job.c_str(), e.stage.c_str(), status.c_str(),
                 e.status == Status::Skip ? "" : duration_text(e.seconds).c_str(), extra.c_str());
    std::fflush(out_);
  }
  void job_finished(const JobEvent& e) override {
    std::string status = paint(e.status);
    std::string detail;
    if (e.status == Status::Skip || (e.status == Status::Cancel && e.seconds == 0)) detail = e.reason.empty() ? "" : "(" + e.reason + ")";
    else detail = duration_text(e.seconds) + (e.reason.empty() ? "" : "  " + first_line(e.reason));
    std::fprintf(out_, "%s %s  %s %s\n", clock_now().c_str(), e.job.c_str(), status.c_str(), detail.c_str());
    std::fflush(out_);
  }
  void run_finished(const RunSummary& s) override {
    std::map<Status, int> counts;
    for (const auto& j : s.jobs) counts[j.status]++;
    std::string parts;
    for (auto st : {Status::Success, Status::Failed, Status::Skip, Status::Cancel})
      if (counts[st]) parts += (parts.empty() ? "" : ", ") + std::to_string(counts[st]) + " " + to_lower(to_string(st));
    std::fprintf(out_, "%s run %s %s in %s (%zu job%s%s%s)\n", clock_now().c_str(), s.run_id.c_str(),
                 paint(s.status).c_str(), duration_text(s.seconds).c_str(), s.jobs.size(), s.jobs.size() == 1 ? "" : "s",
                 parts.empty() ? "" : ": ", parts.c_str());
    if (!s.error.empty()) std::fprintf(out_, "  %s\n", first_line(s.error).c_str());
    for (const auto& f : s.failed)
      std::fprintf(out_, "  failed: %s/%s — %s\n    see: wf logs %s %s/%s\n", f.job.c_str(), f.stage.c_str(),
                   first_line(f.error).c_str(), s.run_id.c_str(), f.job.c_str(), f.stage.c_str());
    std::fflush(out_);
  }

 private:
  static std::string to_lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  std::string paint(Status s) const {
    return color_ ? std::string(status_colour(s)) + to_string(s) + "\033[0m" : to_string(s);
  }
  std::FILE* out_;
  bool color_;
  bool show_output_;
};

// Nothing on success; the failed stages with the tail of their output on failure.
class QuietReporter : public Reporter {
 public:
  explicit QuietReporter(std::FILE* out) : out_(out) {}
  void run_started(std::string_view, std::string_view, std::string_view) override {}
  void stage_started(std::string_view, std::string_view) override {}
  void stage_output(std::string_view, std::string_view, bool, std::string_view) override {}
  void stage_finished(const StageEvent&) override {}
  void job_finished(const JobEvent&) override {}
  void run_finished(const RunSummary& s) override {
    if (s.exit_code == 0) return;
    std::fprintf(out_, "wf: run %s of %s %s\n", s.run_id.c_str(), s.workflow.c_str(), to_string(s.status).c_str());
    if (!s.error.empty()) std::fprintf(out_, "  %s\n", s.error.c_str());
    for (const auto& f : s.failed) {
      std::fprintf(out_, "--- %s/%s: %s\n", f.job.c_str(), f.stage.c_str(), f.error.c_str());
      for (const auto& l : f.last_lines) std::fprintf(out_, "    %s\n", l.c_str());
      std::fprintf(out_, "    (more: wf logs %s %s/%s)\n", s.run_id.c_str(), f.job.c_str(), f.stage.c_str());
    }
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
};

// Only the final result, as one JSON document.
class JsonReporter : public Reporter {
 public:
  explicit JsonReporter(std::FILE* out) : out_(out) {}
  void run_started(std::string_view, std::string_view, std::string_view) override {}
  void stage_started(std::string_view, std::string_view) override {}
  void stage_output(std::string_view, std::string_view, bool, std::string_view) override {}
  void stage_finished(const StageEvent&) override {}
  void job_finished(const JobEvent&) override {}
  void run_finished(const RunSummary& s) override {
    std::fprintf(out_, "%s\n", s.result_json.c_str());
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
};

}  // namespace

std::unique_ptr<Reporter> make_reporter(ReportMode mode, std::FILE* out, bool color) {
  switch (mode) {
    case ReportMode::Quiet: return std::make_unique<QuietReporter>(out);
    case ReportMode::Json: return std::make_unique<JsonReporter>(out);
    case ReportMode::Terminal: return std::make_unique<LineReporter>(out, color, true);
    case ReportMode::Plain: return std::make_unique<LineReporter>(out, color, true);
  }
  return std::make_unique<LineReporter>(out, false, true);
}

}  // namespace wf
