#include "wf/reporter.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <map>
#include <unordered_map>

#include "terminal_view.hpp"

namespace wf {

namespace {

// A word to paste into a shell: as is when plain, else in single quotes.
std::string paste_word(const std::string& w) {
  bool plain = !w.empty() && std::all_of(w.begin(), w.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("_./:=@%+-,").find(static_cast<char>(c)) != std::string_view::npos;
  });
  if (plain) return w;
  std::string q = "'";
  for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

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

std::string to_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string paint(Status s, bool color) {
  return color ? std::string(status_colour(s)) + to_string(s) + "\033[0m" : to_string(s);
}

// "3 jobs: 2 success, 1 skip" (`legs`: the legs of matrix jobs instead of the jobs).
std::string count_line(const std::vector<JobEvent>& events, bool legs) {
  std::map<Status, int> counts;
  int total = 0;
  for (const auto& j : events) {
    if (j.leg != legs) continue;
    counts[j.status]++;
    ++total;
  }
  std::string parts;
  for (auto st : {Status::Success, Status::Failed, Status::Skip, Status::Cancel})
    if (counts[st]) parts += (parts.empty() ? "" : ", ") + std::to_string(counts[st]) + " " + to_lower(to_string(st));
  const char* noun = legs ? (total == 1 ? " leg" : " legs") : (total == 1 ? " job" : " jobs");
  return std::to_string(total) + noun + (parts.empty() ? "" : ": ") + parts;
}

// "run ID SUCCESS in 1.20s (3 jobs: 2 success, 1 skip)"; with matrix jobs of several legs,
// their legs are counted apart: "(2 jobs: 2 success; 3 legs: 2 success, 1 failed)".
std::string run_status_line(const RunSummary& s, bool color) {
  const bool any_legs = std::any_of(s.jobs.begin(), s.jobs.end(), [](const JobEvent& j) { return j.leg; });
  return "run " + s.run_id + " " + paint(s.status, color) + " in " + duration_text(s.seconds) + " (" +
         count_line(s.jobs, false) + (any_legs ? "; " + count_line(s.jobs, true) : "") + ")";
}

// Timestamped lines, for cron, CI and pipes: no escapes unless colour is forced.
class LineReporter : public Reporter {
 public:
  bool wants_result_json() const override { return false; }
  LineReporter(std::FILE* out, bool color, bool show_output) : out_(out), color_(color), show_output_(show_output) {}

  void run_started(std::string_view run_id, std::string_view workflow, std::string_view run_name) override {
    std::fprintf(out_, "%s run %.*s: %.*s%s%.*s\n", clock_now().c_str(), static_cast<int>(run_id.size()), run_id.data(),
                 static_cast<int>(workflow.size()), workflow.data(), run_name.empty() ? "" : " — ",
                 static_cast<int>(run_name.size()), run_name.data());
    std::fflush(out_);
  }
  void stage_started(std::string_view, std::string_view) override {}
  // Lines are written at the end of each loop pass (flush), not one write(2) each.
  void flush() override { std::fflush(out_); }
  void stage_output(std::string_view job, std::string_view stage, bool is_stderr, std::string_view line) override {
    if (!show_output_) return;
    std::fprintf(out_, "%s%.*s/%.*s |%s %.*s\n", color_ ? "\033[90m" : "", static_cast<int>(job.size()), job.data(),
                 static_cast<int>(stage.size()), stage.data(), color_ ? "\033[0m" : "", static_cast<int>(line.size()),
                 line.data());
    (void)is_stderr;
  }
  void stage_finished(const StageEvent& e) override {
    std::string status = paint(e.status);
    std::string extra = e.error.empty() ? "" : "  " + first_line(e.error);
    std::fprintf(out_, "%s %s/%s  %s %s%s\n", clock_now().c_str(), e.job.c_str(), e.stage.c_str(), status.c_str(),
                 e.status == Status::Skip ? "" : duration_text(e.seconds).c_str(), extra.c_str());
  }
  void job_finished(const JobEvent& e) override {
    std::string status = paint(e.status);
    std::string detail;
    if (e.status == Status::Skip || (e.status == Status::Cancel && e.seconds == 0)) detail = e.reason.empty() ? "" : "(" + e.reason + ")";
    else detail = duration_text(e.seconds) + (e.reason.empty() ? "" : "  " + first_line(e.reason));
    std::fprintf(out_, "%s %s  %s %s\n", clock_now().c_str(), e.job.c_str(), status.c_str(), detail.c_str());
  }
  void run_finished(const RunSummary& s) override {
    std::fprintf(out_, "%s %s\n", clock_now().c_str(), run_status_line(s, color_).c_str());
    if (!s.error.empty()) std::fprintf(out_, "  %s\n", first_line(s.error).c_str());
    for (const auto& f : s.failed)
      std::fprintf(out_, "  failed: %s/%s — %s\n    see: wf logs %s %s\n", f.job.c_str(), f.stage.c_str(),
                   first_line(f.error).c_str(), s.run_id.c_str(), paste_word(f.job + "/" + f.stage).c_str());
    std::fflush(out_);
  }

 private:
  std::string paint(Status s) const { return wf::paint(s, color_); }
  std::FILE* out_;
  bool color_;
  bool show_output_;
};

// The live view for a terminal: finished stages and jobs and the stages' output scroll
// above; below them a live area of the running stages with their elapsed times is
// repainted in place (at most every kRedrawGap, and on every tick); a summary at the end.
class TerminalReporter : public Reporter {
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kRedrawGap{50};
  static constexpr std::chrono::milliseconds kTick{100};
  static constexpr std::size_t kSummaryRows = 40;  // beyond it only the unsuccessful jobs are listed
  static constexpr std::size_t kTailLines = 10;     // of each failed stage's output
  static constexpr std::size_t kFailedShown = 10;   // failed stages shown with their tails

 public:
  bool wants_result_json() const override { return false; }
  TerminalReporter(std::FILE* out, bool color) : view_(out), out_(out), color_(color), started_(Clock::now()) {}

  void run_started(std::string_view run_id, std::string_view workflow, std::string_view run_name) override {
    started_ = Clock::now();
    view_.print("run " + std::string(run_id) + ": " + std::string(workflow) +
                (run_name.empty() ? "" : " — " + std::string(run_name)));
    refresh();
  }
  void stage_started(std::string_view job, std::string_view stage) override {
    running_[key(job, stage)] = {next_seq_++, std::string(job) + "/" + std::string(stage), Clock::now()};
    JobState& j = jobs_[std::string(job)];
    if (!j.running) {
      if (j.attempts > 0) (j.last == Status::Failed ? failed_ : done_)--;  // a retry
      j.running = true;
      ++running_jobs_;
    }
    refresh();
  }
  void stage_output(std::string_view job, std::string_view stage, bool, std::string_view line) override {
    view_.print(std::string(dim()) + printable(std::string(job) + "/" + std::string(stage)) + " |" + reset() + " " +
                printable(line));
    refresh();
  }
  void stage_finished(const StageEvent& e) override {
    running_.erase(key(e.job, e.stage));
    std::string extra = e.error.empty() ? "" : "  " + first_line(e.error);
    view_.print(printable(e.job + "/" + e.stage) + "  " + paint(e.status, color_) +
                (e.status == Status::Skip ? "" : " " + duration_text(e.seconds)) + extra);
    refresh();
  }
  void job_finished(const JobEvent& e) override {
    JobState& j = jobs_[e.job];
    if (j.running) --running_jobs_;
    else if (j.attempts > 0) (j.last == Status::Failed ? failed_ : done_)--;
    j.running = false;
    j.last = e.status;
    ++j.attempts;
    (e.status == Status::Failed ? failed_ : done_)++;
    std::string detail;
    if (e.status == Status::Skip || (e.status == Status::Cancel && e.seconds == 0)) detail = e.reason.empty() ? "" : " (" + e.reason + ")";
    else detail = " " + duration_text(e.seconds) + (e.reason.empty() ? "" : "  " + first_line(e.reason));
    view_.print(printable(e.job) + "  " + paint(e.status, color_) + detail);
    refresh();
  }
  void run_finished(const RunSummary& s) override {
    finished_ = true;
    running_.clear();
    print_summary(s);
    view_.clear(terminal_size(out_).cols);
  }
  std::chrono::milliseconds tick_interval() const override { return kTick; }
  void tick() override { refresh(); }

 private:
  struct RunningStage {
    std::uint64_t seq = 0;
    std::string name;
    Clock::time_point started;
  };
  struct JobState {
    bool running = false;
    Status last = Status::Wait;
    int attempts = 0;  // finished attempts
  };

  static std::string key(std::string_view job, std::string_view stage) {
    return std::string(job) + '\x1f' + std::string(stage);
  }
  const char* dim() const { return color_ ? "\033[90m" : ""; }
  const char* reset() const { return color_ ? "\033[0m" : ""; }

  // Repaints unless the last paint was under kRedrawGap ago: a burst of events costs one
  // paint, and the next event or tick (every kTick) brings the screen up to date.
  void refresh() {
    if (finished_) return;
    auto now = Clock::now();
    if (drawn_once_ && now - last_draw_ < kRedrawGap) return;
    drawn_once_ = true;
    last_draw_ = now;
    std::vector<const RunningStage*> order;
    order.reserve(running_.size());
    for (const auto& [k, r] : running_) order.push_back(&r);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
    std::vector<LiveStage> live;
    live.reserve(order.size());
    for (const auto* r : order) live.push_back({printable(r->name), seconds_between(r->started, now)});
    LiveCounts counts{running_jobs_, done_, failed_, seconds_between(started_, now)};
    TermSize size = terminal_size(out_);
    int frame = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now - started_).count() / 80);
    view_.show(layout_live_area(live, counts, size, frame, color_), size.cols);
  }
  static double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }

  // Per job instance: status, duration, attempts; then the failed stages with the tail of
  // their output and the command to see it all; then the run's status line.
  void print_summary(const RunSummary& s) {
    std::size_t name_cols = 3;
    bool retried = false;
    for (const auto& j : s.jobs) {
      name_cols = std::max(name_cols, static_cast<std::size_t>(display_width(printable(j.job))));
      if (attempts(j.job) > 1) retried = true;
    }
    name_cols = std::min<std::size_t>(name_cols, 48);
    // Columns: job, status, time, attempts (only when some job ran more than once).
    auto row = [&](const std::string& job, const std::string& status, const std::string& time, const std::string& tries) {
      std::string line = "  " + pad(fit_to_width(job, static_cast<int>(name_cols)), name_cols + 2) + pad(status, 9) +
                         (tries.empty() ? time : pad(time, 10) + tries);
      while (!line.empty() && line.back() == ' ') line.pop_back();
      return line;
    };
    // Many instances: only the unsuccessful ones are listed; the status line counts the rest.
    bool collapse = s.jobs.size() > kSummaryRows;
    std::vector<const JobEvent*> listed;
    for (const auto& j : s.jobs)
      if ((!collapse || j.status == Status::Failed || j.status == Status::Cancel) && listed.size() < kSummaryRows)
        listed.push_back(&j);
    if (!listed.empty()) {
      view_.print("");
      view_.print(std::string(dim()) + row("JOB", "STATUS", "TIME", retried ? "ATTEMPTS" : "") + reset());
    }
    for (const auto* j : listed) {
      bool timed = !(j->status == Status::Skip || (j->status == Status::Cancel && j->seconds == 0));
      view_.print(row(printable(j->job), paint(j->status, color_), timed ? duration_text(j->seconds) : "-",
                      retried ? std::to_string(attempts(j->job)) : ""));
    }
    if (!listed.empty() && listed.size() < s.jobs.size())
      view_.print("  … and " + std::to_string(s.jobs.size() - listed.size()) + " more");

    std::size_t shown = std::min(s.failed.size(), kFailedShown);
    for (std::size_t k = 0; k < shown; ++k) {
      const FailedStage& f = s.failed[k];
      view_.print("");
      view_.print((color_ ? "\033[31mfailed:\033[0m " : "failed: ") + printable(f.job + "/" + f.stage) + " — " +
                  printable(first_line(f.error)));
      std::size_t from = f.last_lines.size() > kTailLines ? f.last_lines.size() - kTailLines : 0;
      for (std::size_t i = from; i < f.last_lines.size(); ++i)
        view_.print("  " + std::string(dim()) + "|" + reset() + " " + printable(f.last_lines[i]));
      view_.print("  see: wf logs " + s.run_id + " " + paste_word(f.job + "/" + f.stage));
    }
    if (shown < s.failed.size())
      view_.print("\n… and " + std::to_string(s.failed.size() - shown) + " more failed stages: wf show " + s.run_id);
    view_.print("");
    if (!s.error.empty()) view_.print(printable(first_line(s.error)));
    view_.print(run_status_line(s, color_));
  }
  static std::string pad(std::string s, std::size_t cols) {
    auto w = static_cast<std::size_t>(display_width(s));
    return w < cols ? s + std::string(cols - w, ' ') : s + " ";
  }
  int attempts(const std::string& job) const {
    auto it = jobs_.find(job);
    return it == jobs_.end() ? 1 : std::max(1, it->second.attempts);
  }

  TerminalView view_;
  std::FILE* out_;
  bool color_;
  Clock::time_point started_;
  Clock::time_point last_draw_{};
  bool drawn_once_ = false;
  bool finished_ = false;
  std::uint64_t next_seq_ = 0;
  std::unordered_map<std::string, RunningStage> running_;
  std::unordered_map<std::string, JobState> jobs_;
  int running_jobs_ = 0;
  int done_ = 0;
  int failed_ = 0;
};

// Nothing on success; the failed stages with the tail of their output on failure.
class QuietReporter : public Reporter {
 public:
  bool wants_result_json() const override { return false; }
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
      std::fprintf(out_, "    (more: wf logs %s %s)\n", s.run_id.c_str(), paste_word(f.job + "/" + f.stage).c_str());
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
    case ReportMode::Terminal: {
      // A terminal that cannot move the cursor gets the plain lines.
      const char* term = std::getenv("TERM");
      if (term && std::string_view(term) == "dumb") return std::make_unique<LineReporter>(out, color, true);
      return std::make_unique<TerminalReporter>(out, color);
    }
    case ReportMode::Plain: return std::make_unique<LineReporter>(out, color, true);
  }
  return std::make_unique<LineReporter>(out, false, true);
}

}  // namespace wf
